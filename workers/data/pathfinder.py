"""``pathfinder``: are the two marked dots the two ends of one curve, among distractor curves?

A task of long-range spatial integration (Linsley et al. 2018), where recurrence is known to help:
a local feature cannot tell, the curve has to be traced. Every image holds the same number of
curves, ``1 + distractors``: a positive has one curve with a dot at each end plus
``distractors`` unmarked curves; a negative has two curves with one dot each plus
``distractors - 1`` unmarked ones. The ink of two curves (dots included) stays more than
:func:`curve_gap` px apart (1.5 up to 32 px, 3.5 at 64), so they are never 8-connected and
connectedness and the label agree.

Curves are grown segment by segment around the ink already drawn (:class:`_Curves`): a segment
turns by a random angle up to ``max_turn``, preferring turns with room ahead; a stuck curve
backs up and tries again, then starts elsewhere. An image whose curves do not all fit is drawn
again, never shown with fewer (v5 dropped them: at 32 px ``hard`` held 2.05 of its 4 curves).
Each difficulty holds its curves from :data:`MIN_SIZES` up; smaller sizes are refused by name
(:func:`check_size`).

The distance between the two dots would give the answer away without any tracing: a positive's
dots are the ends of one smooth curve, a negative's lie anywhere. Unmatched, at 32 px, a
threshold on that distance alone is right on 0.66 (``medium``) and 0.68 (``hard``) of the
images, a band on it on 0.77 and 0.70, at ``easy`` 0.85 and 0.90 (``bench/pathfinder_stats.py``,
1,000 images). So ``medium`` and ``hard`` draw a larger pool and keep positives and negatives in
pairs from the same 1-px distance bin: both classes then have the same dot-distance
distribution (``matched``: 0.519 by threshold, 0.525 by band at medium; 0.514, 0.514 at hard).
``easy`` keeps its cue on purpose: the warm-up level.

Generation is vectorised over a chunk of images: each curve slot grows one segment in every
pending image at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from space.spec import PATHFINDER_MIN_SIZE, PathfinderDataset
from workers.data.cache import cached
from workers.data.raw import RawData
from workers.errors import DatasetError

# 3: dots of radius size/16 (>= 1.5 px): at 32 px the radius-1 "+" on a 1-px curve was hardly
# a marker and no model learnt the task (v2 was a short-lived draft of this fix)
# 4: medium and hard match the dot distance of the two classes (``matched``)
# 5: a dot keeps one pixel of clearance more than its radius: in v4, 2.6% of the easy negatives
# at 32 px had their two dots touching (one 8-connected blob, labelled disconnected)
# 6: curves grown around the ink drawn, every image with all of its curves (v5 left out those
# that found no room: at 32 px hard held 2.05 of its 4), one gap between any two curves
GENERATOR_VERSION = 6
MIN_SIZE = PATHFINDER_MIN_SIZE
CLASS_NAMES = ("disconnected", "connected")
# (curve length as a fraction of the image side, distractors)
DIFFICULTY = {"easy": (0.4, 1), "medium": (0.6, 2), "hard": (0.9, 3)}
MATCHED = {"easy": False, "medium": True, "hard": True}  # dot-distance matched (see above)
# The smallest side at which a difficulty holds all of its curves: at 24 px, 0.67 of the hard
# images drawn get their 4 curves (the others are drawn again), at 22 px 0.44, at 20 px 0.16;
# medium and easy hold theirs at 16 px (test_pathfinder_curves.py checks this table).
MIN_SIZES = {"easy": MIN_SIZE, "medium": MIN_SIZE, "hard": 24}
_MIN_GAP = 1.5  # px: more than sqrt(2), so two curves are never 8-neighbours
_STARTS = 20  # start points tried per attempt at a curve
_TURNS = 8  # turns drawn per segment; none clear: the attempt is given up
_AHEAD = 3  # segments looked ahead when choosing a turn
_BACK, _RETREATS = 2, 4  # a stuck curve backs up 2, 4, ... segments, at most 4 times
_NEVER = np.iinfo(np.int16).max
_ATTEMPTS = 6  # starts per curve; then its image is left out and drawn again
_HOPELESS = 64  # images drawn without one that fits: the curves do not fit this size
_POOL_FACTOR = 8  # give up after drawing this many times the images expected to suffice


def _disc_offsets(radius: float) -> np.ndarray:
    r = int(np.ceil(radius))
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    keep = dx**2 + dy**2 <= radius**2 + 1e-6
    return np.stack([dy[keep], dx[keep]], axis=1)


def dot_radius(size: int) -> float:
    """The radius of the marked dots in images of ``size`` px."""
    return max(1.5, size / 16)  # 2 px at 32 px: a disc, not a 1-px "+"


def find_dots(img: np.ndarray) -> tuple[np.ndarray, int]:
    """The dots of one image as a model would find them (for checks, not generation): the
    pixels that survive an erosion by the dot's disc, labelled (8-connected), and their count.
    A 1-px curve never survives it; a dot does."""
    from scipy import ndimage

    disc = _disc_mask(dot_radius(img.shape[0]))
    labels, count = ndimage.label(ndimage.binary_erosion(img > 0, disc), np.ones((3, 3)))
    return labels, int(count)


def dot_distance(img: np.ndarray) -> float | None:
    """The distance between the centres of one image's two dots (:func:`find_dots`), or None
    when they are not found as exactly two."""
    from scipy import ndimage

    dots, n = find_dots(img)
    if n != 2:
        return None
    (y0, x0), (y1, x1) = ndimage.center_of_mass(dots > 0, dots, [1, 2])
    return float(np.hypot(y0 - y1, x0 - x1))


class _Geometry:
    """Sizes derived from the image size so that the task looks alike at every resolution."""

    def __init__(self, size: int, length: float, max_turn: float) -> None:
        self.size = size
        self.length = length
        self.max_turn = max_turn
        self.seg_len = max(1.5, size / 16)
        self.segments = max(2, round(length * size / self.seg_len))
        thick = max(0.0, size / 64 - 0.5)
        # Centre points 0.4 px apart: consecutive rounded points are 8-neighbours, so a 1-px
        # curve is one blob; a thick one's discs overlap when 0.7 of its radius apart (fewer
        # points: each is checked against other curves at every segment tried).
        self.per_seg = int(np.ceil(self.seg_len / max(0.4, 0.7 * thick)))
        self.thick = _disc_offsets(thick)
        # Ink of two curves (dots included) stays more than ``gap`` px apart: never 8-connected
        # (that needs > 1.42), and visibly apart at every size.
        self.gap = curve_gap(size)
        self.gap_disc = _disc_mask(self.gap)
        # A curve's keep-out from its own earlier segments, stamped around every ``own_stride``-th
        # centre point: sparser where the disc is large (self-avoidance is for looks only; the
        # gap between curves is checked on every point).
        self.keep = _disc_offsets(thick + self.gap)
        self.own_stride = max(1, int((thick + self.gap) / 2 * self.per_seg / self.seg_len))
        # The dots must stand out from the 1-px curves at small sizes: a radius-1 '+' was hardly
        # a marker, and no model learnt the task (val acc at chance) until it became a disc.
        radius = dot_radius(size)
        self.dot = _disc_offsets(radius)
        self.dot_keep = _disc_offsets(radius + self.gap)
        self.margin = int(self.dot.max())  # keeps the end dots on the canvas
        # A growing curve avoids its own ink too, except the last segments (which it is
        # leaving): ``skip`` segments for a segment, ``dot_skip`` for its own start dot. At
        # turns up to 0.6 rad a segment (the default), the tip gets 0.8 px further per px grown.
        step = 0.8 * self.seg_len
        self.skip = 1 + int(np.ceil((2 * thick + self.gap + 1) / step))
        self.dot_skip = 1 + int(np.ceil((radius + thick + self.gap + 1) / step))

    def flat(self, points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Flat pixel indices [m, P*O] of ``points`` [m, P, 2] stamped with ``offsets``."""
        m, p = points.shape[:2]
        pix = np.rint(points).astype(np.int64)[:, :, None, :] + offsets[None, None, :, :]
        pix = np.clip(pix, 0, self.size - 1).reshape(m, p * len(offsets), 2)
        return np.asarray(pix[..., 0] * self.size + pix[..., 1])


def curve_gap(size: int) -> float:
    """How far apart (px, exclusive) the ink of two curves stays in images of ``size`` px."""
    return max(_MIN_GAP, size / 16 - 0.5)


def _disc_mask(radius: float) -> np.ndarray:
    off = _disc_offsets(radius)
    r = int(off.max())
    mask = np.zeros((2 * r + 1, 2 * r + 1), dtype=bool)
    mask[off[:, 0] + r, off[:, 1] + r] = True
    return mask


def _hits(mask: np.ndarray, rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """[len(rows)]: whether any of each row's pixels ``idx`` is set in ``mask`` [n, pixels]."""
    return np.asarray(mask[rows[:, None], idx].any(axis=1))


class _Curves:
    """One curve in each of ``rows`` images, grown segment by segment.

    Each segment turns by one of ``_TURNS`` random angles, preferring one whose straight
    continuation stays clear for ``_AHEAD`` segments (a curve turns away from a wall or an
    obstacle while it still can). Where no turn is clear, the curve backs up, further each time
    (``_BACK`` segments more), and grows again; after ``_RETREATS`` it starts again elsewhere,
    up to ``_ATTEMPTS`` times, and is then given up (``ok`` False). The curve keeps clear of
    other ink (``blocked``) and of its own, except its last few segments (``skip``), which it is
    leaving.
    """

    def __init__(
        self, geo: _Geometry, blocked: np.ndarray, rows: np.ndarray, marked: np.ndarray
    ) -> None:
        self.geo, self.blocked, self.rows, self.marked = geo, blocked, rows, marked
        m = len(rows)
        self.pts = np.zeros((m, geo.segments * geo.per_seg + 1, 2))
        self.heading = np.zeros((m, geo.segments + 1))  # the heading as segment k starts
        self.k = np.zeros(m, dtype=np.int64)  # segments grown so far
        self.ok = np.ones(m, dtype=bool)
        self.retreats = np.zeros(m, dtype=np.int64)
        self.attempts = np.zeros(m, dtype=np.int64)
        # the first of the curve's own segments that keeps each pixel clear (_NEVER: none)
        self.own = np.full((m, blocked.shape[1]), _NEVER, dtype=np.int16)
        self.own_dot = np.zeros((m, blocked.shape[1]), dtype=bool)  # its start dot's keep-out
        self.t = np.arange(1, geo.per_seg + 1) / geo.per_seg
        self.ahead = geo.seg_len * np.arange(0.5, _AHEAD + 0.5, 0.5)

    def grow(self, rng: np.random.Generator) -> None:
        self._begin(rng, np.arange(len(self.rows)))
        while True:
            alive = np.flatnonzero(self.ok & (self.k < self.geo.segments))
            if len(alive) == 0:
                return
            self._segment(rng, alive)

    def _begin(self, rng: np.random.Generator, local: np.ndarray) -> None:
        """Start curves ``local`` (again) where the start's ink (a dot where marked) is clear
        of every other curve, with a random heading; give up those out of attempts or room."""
        geo = self.geo
        self.attempts[local] += 1
        self.ok[local[self.attempts[local] > _ATTEMPTS]] = False
        todo = local[self.ok[local]]
        self.k[todo], self.retreats[todo] = 0, 0
        self.own[todo], self.own_dot[todo] = _NEVER, False
        self.heading[todo, 0] = rng.uniform(0, 2 * np.pi, len(todo))
        for _ in range(_STARTS):
            at = rng.integers(geo.margin, geo.size - geo.margin, (len(todo), 1, 2)).astype(float)
            rows = self.rows[todo]
            hit = np.where(
                self.marked[todo, 0],
                _hits(self.blocked, rows, geo.flat(at, geo.dot)),
                _hits(self.blocked, rows, geo.flat(at, geo.thick)),
            )
            placed = todo[~hit]
            self.pts[placed, 0] = at[~hit, 0]
            dotted = placed[self.marked[placed, 0]]
            self.own_dot[dotted[:, None], geo.flat(self.pts[dotted, :1], geo.dot_keep)] = True
            todo = todo[hit]
            if len(todo) == 0:
                return
        self.ok[todo] = False

    def _segment(self, rng: np.random.Generator, alive: np.ndarray) -> None:
        """The next segment of each ``alive`` curve: among the clear turns, one at random of
        those with all the room ahead, else the one with the most; stuck curves retreat."""
        m = len(alive)
        heading, seg, ahead = self._turns(rng, alive)
        good, room = self._judge(alive, seg, ahead)
        score = 4.0 * good + 2.0 * (room == 1.0) + room + 0.01 * rng.random(good.shape)
        pick = np.argmax(score, axis=1)
        ok = good[np.arange(m), pick]
        self._accept(alive[ok], seg[ok, pick[ok]], heading[ok, pick[ok]])
        self._retreat(rng, alive[~ok])

    def _turns(
        self, rng: np.random.Generator, alive: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``_TURNS`` candidate segments per curve: headings [m, T], their centre points
        [m, T, per_seg, 2] and the points of their straight continuation [m, T, A, 2]."""
        geo, k = self.geo, self.k[alive]
        turn = rng.uniform(-geo.max_turn, geo.max_turn, (len(alive), _TURNS))
        heading = self.heading[alive, k][:, None] + turn
        unit = np.stack([np.sin(heading), np.cos(heading)], axis=2)[:, :, None, :]
        start = self.pts[alive, k * geo.per_seg][:, None, None, :]
        seg = start + (geo.seg_len * self.t)[None, None, :, None] * unit
        ahead = seg[:, :, -1:, :] + self.ahead[None, None, :, None] * unit
        return heading, seg, ahead

    def _judge(
        self, alive: np.ndarray, seg: np.ndarray, ahead: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Whether each candidate [m, T] is clear (its end dot too, where the curve ends on
        one), and the share of its look-ahead run that is free before the first obstacle."""
        geo, (m, turns) = self.geo, seg.shape[:2]
        local, ks = np.repeat(alive, turns), np.repeat(self.k[alive], turns)
        good = np.asarray(self._clear(local, ks, seg.reshape(m * turns, -1, 2), geo.thick).all(1))
        ends = (ks == geo.segments - 1) & self.marked[local, 1]
        end_pts = seg[:, :, -1:].reshape(-1, 1, 2)[ends]
        good[ends] &= self._clear(local[ends], ks[ends], end_pts, geo.dot)[:, 0]
        clear = self._clear(local, ks, ahead.reshape(m * turns, -1, 2), geo.thick)
        room = np.cumprod(clear, axis=1).mean(axis=1)
        return good.reshape(m, turns), room.reshape(m, turns)

    def _clear(
        self, local: np.ndarray, k: np.ndarray, points: np.ndarray, offsets: np.ndarray
    ) -> np.ndarray:
        """[len(local), P]: whether each of ``points`` [len(local), P, 2] of curves ``local``
        at segment ``k``, stamped with ``offsets``, is on the canvas and off every obstacle."""
        geo = self.geo
        idx = geo.flat(points, offsets)
        shape = (len(local), points.shape[1], len(offsets))
        hit = self.blocked[self.rows[local][:, None], idx]
        hit |= self.own[local[:, None], idx] <= (k - geo.skip)[:, None]
        hit |= self.own_dot[local[:, None], idx] & (k >= geo.dot_skip)[:, None]
        lo, hi = geo.margin, geo.size - 1 - geo.margin
        inside = ((points >= lo) & (points <= hi)).all(axis=2)
        return np.asarray(inside & ~hit.reshape(shape).any(axis=2))

    def _accept(self, local: np.ndarray, seg: np.ndarray, heading: np.ndarray) -> None:
        geo, k = self.geo, self.k[local]
        cols = (k * geo.per_seg)[:, None] + np.arange(1, geo.per_seg + 1)
        self.pts[local[:, None], cols] = seg
        self.heading[local, k + 1] = heading
        whole = np.concatenate([self.pts[local, k * geo.per_seg][:, None], seg], axis=1)
        idx = geo.flat(whole[:, :: geo.own_stride], geo.keep)
        self.own[local[:, None], idx] = np.minimum(self.own[local[:, None], idx], k[:, None])
        self.k[local] += 1

    def _retreat(self, rng: np.random.Generator, local: np.ndarray) -> None:
        """Back stuck curves up, further each time (out of a corner, not into it again), with
        a new heading where that is back at the start; or start them again elsewhere."""
        self.retreats[local] += 1
        again = self.retreats[local] > _RETREATS
        self._begin(rng, local[again])
        back = local[~again]
        k = np.maximum(self.k[back] - _BACK * self.retreats[back], 0)
        self.k[back] = k
        restart = back[k == 0]
        self.heading[restart, 0] = rng.uniform(0, 2 * np.pi, len(restart))
        own = self.own[back]
        own[own >= k[:, None]] = _NEVER
        self.own[back] = own


def _commit(
    geo: _Geometry,
    img: np.ndarray,
    blocked: np.ndarray,
    rows: np.ndarray,
    pts: np.ndarray,
    marked: np.ndarray,
) -> None:
    """Draw the curves ``pts`` [m, P, 2] (dots where ``marked`` [m, 2]) into ``rows``, and keep
    later curves ``gap`` px away from all of their ink."""
    from scipy import ndimage

    ink = np.zeros((len(rows), img.shape[1]), dtype=bool)
    ink[np.arange(len(rows))[:, None], geo.flat(pts, geo.thick)] = True
    for end, at in ((0, 0), (1, -1)):
        dotted = np.flatnonzero(marked[:, end])
        ink[dotted[:, None], geo.flat(pts[dotted, at][:, None], geo.dot)] = True
    img[rows] |= np.where(ink, np.uint8(255), np.uint8(0))
    square = ink.reshape(len(rows), geo.size, geo.size)
    near = ndimage.binary_dilation(square, geo.gap_disc[None])
    blocked[rows] |= near.reshape(len(rows), geo.size**2)


def _place(
    rng: np.random.Generator,
    geo: _Geometry,
    img: np.ndarray,
    blocked: np.ndarray,
    dots: np.ndarray,
    rows: np.ndarray,
    ends_out: np.ndarray | None = None,
) -> np.ndarray:
    """Grow one curve into each of ``rows`` images (``dots`` [n, 2]: dot at start/end);
    return which of ``rows`` got it (see :class:`_Curves`).

    ``ends_out`` [n, 2, 2], if given, receives each placed curve's two end points (y, x).
    """
    curves = _Curves(geo, blocked, rows, dots[rows])
    curves.grow(rng)
    ok, placed = curves.ok, rows[curves.ok]
    if ends_out is not None:
        ends_out[placed] = curves.pts[ok][:, [0, -1]]
    _commit(geo, img, blocked, placed, curves.pts[ok], dots[placed])
    return ok


def _draw(
    rng: np.random.Generator, geo: _Geometry, labels: np.ndarray, distractors: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat images [n, size*size], the distance between each image's two dots [n], and the
    number of curves drawn into each [n]: an image stops at the first that finds no room."""
    n, pixels = len(labels), geo.size**2
    img = np.zeros((n, pixels), dtype=np.uint8)
    blocked = np.zeros((n, pixels), dtype=bool)
    pos = labels == 1
    # Slot 0: positives get both dots, negatives one. Slot 1: negatives' second marked curve,
    # positives' first distractor. Then the further distractors, in both classes alike.
    no_dots = np.zeros((n, 2), dtype=bool)
    slots = [np.stack([np.ones(n, dtype=bool), pos], axis=1), np.stack([~pos, no_dots[:, 1]], 1)]
    slots += [no_dots] * (distractors - 1)
    ends = np.zeros((2, n, 2, 2))
    curves = np.zeros(n, dtype=np.int64)
    for i, dots in enumerate(slots):
        rows = np.flatnonzero(curves == i)
        curves[rows[_place(rng, geo, img, blocked, dots, rows, ends[i] if i < 2 else None)]] += 1
    # the dots: a positive's at both ends of curve 0, a negative's at the starts of curves 0, 1
    other = np.where(pos[:, None], ends[0, :, 1], ends[1, :, 0])
    dist = np.hypot(*(ends[0, :, 0] - other).T)
    return img, dist, curves


def _does_not_fit(geo: _Geometry, distractors: int) -> DatasetError:
    shorter = max(0.1, round(geo.length / 2, 2))
    return DatasetError(
        "dataset.length",
        f"cannot fit {1 + distractors} separate curves of length {geo.length:g} in "
        f"{geo.size}x{geo.size} images; use shorter curves (pathfinder:length={shorter:g}), "
        "fewer distractors (pathfinder:distractors=N) or an easier difficulty "
        f"(pathfinder:difficulty=easy), or larger images (--input-size {geo.size * 2} for "
        f"convnas train, or pathfinder:size={geo.size * 2}, resized to the input)",
        geo.length,
    )


@dataclass(frozen=True)
class Drawn:
    """Images as the generator drew them, with its own record of what it drew."""

    x: np.ndarray  # [n, size, size] uint8
    y: np.ndarray  # [n] int64, 1 = connected
    curves: np.ndarray  # [n] the curves drawn into each image, counted as they were placed
    dot_distance: np.ndarray  # [n] px between the centres of the two dots, as placed


def _chunk_size(size: int) -> int:
    """Images drawn at once: many (the per-step cost is numpy's overhead), ~1 M pixels."""
    return int(np.clip(2**20 // size**2, 16, 1024))


class _Pool:
    """Images drawn in chunks, those that did not get all of their curves left out (they are
    drawn again rather than shown with fewer curves)."""

    def __init__(self, rng: np.random.Generator, geo: _Geometry, distractors: int) -> None:
        self.rng, self.geo, self.distractors = rng, geo, distractors
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.drawn = 0

    def draw(self, count: int) -> Drawn:
        """Draw ``count`` more (balanced) and return every kept image so far."""
        labels = self.rng.permutation(np.arange(count) % 2).astype(np.int64)
        img, dist, curves = _draw(self.rng, self.geo, labels, self.distractors)
        kept = curves == 1 + self.distractors
        self.parts.append((img[kept], labels[kept], curves[kept], dist[kept]))
        self.drawn += count
        x, y, c, d = (np.concatenate(a) for a in zip(*self.parts, strict=True))
        if len(y) == 0 and self.drawn >= _HOPELESS:  # not one fits: refuse, do not hang
            raise _does_not_fit(self.geo, self.distractors)
        return Drawn(x.reshape(len(y), self.geo.size, self.geo.size), y, c, d)


def _collect(
    rng: np.random.Generator,
    geo: _Geometry,
    n: int,
    distractors: int,
    take: Callable[[Drawn], np.ndarray | None],
    want: int,
) -> Drawn:
    """Draw until ``take`` picks ``n`` images (their indices) from what was kept; about
    ``want`` kept images are expected to suffice."""
    pool = _Pool(rng, geo, distractors)
    budget = _POOL_FACTOR * want + 2 * _chunk_size(geo.size)
    kept = 0
    while pool.drawn < budget:
        count = min(_chunk_size(geo.size), max(32, want - kept + want // 4))
        drawn = pool.draw(count)
        kept = len(drawn.y)
        chosen = take(drawn)
        if chosen is not None:
            return Drawn(*(a[chosen] for a in (drawn.x, drawn.y, drawn.curves, drawn.dot_distance)))
    raise DatasetError(
        "dataset.samples", f"could not draw {n} images in {pool.drawn} tries ({kept} fit)", n
    )


def draw(
    n: int,
    size: int,
    length: float,
    distractors: int,
    max_turn: float,
    seed: int,
    matched: bool = False,
) -> Drawn:
    """``n`` images, balanced, from ``seed``, each with ``1 + distractors`` curves.

    ``matched``: both classes have the same distribution of the distance between the dots.
    """
    rng = np.random.default_rng(seed)
    geo = _Geometry(size, length, max_turn)
    if matched:
        return _collect(rng, geo, n, distractors, _matched_take(rng, n), 2 * n)
    labels = rng.permutation(np.arange(n) % 2).astype(np.int64)
    return _collect(rng, geo, n, distractors, _in_order(labels), n)


def generate(
    n: int,
    size: int,
    length: float,
    distractors: int,
    max_turn: float,
    seed: int,
    matched: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images [n, size, size] uint8 and labels (1 = connected): :func:`draw`."""
    drawn = draw(n, size, length, distractors, max_turn, seed, matched)
    return drawn.x, drawn.y


def _in_order(labels: np.ndarray) -> Callable[[Drawn], np.ndarray | None]:
    """The first kept images of each class, in the order of ``labels``, once there are enough."""

    def take(drawn: Drawn) -> np.ndarray | None:
        chosen = np.zeros(len(labels), dtype=np.int64)
        for label in (0, 1):
            have, need = np.flatnonzero(drawn.y == label), labels == label
            if len(have) < need.sum():
                return None
            chosen[need] = have[: need.sum()]
        return chosen

    return take


def _matched_take(rng: np.random.Generator, n: int) -> Callable[[Drawn], np.ndarray | None]:
    """Pairs of one positive and one negative whose dot distances fall in the same 1-px bin
    (an odd ``n`` ends on a negative), shuffled, once there are enough."""
    pairs = (n + 1) // 2

    def take(drawn: Drawn) -> np.ndarray | None:
        found = _pair_by_bin(drawn.dot_distance.astype(np.int64), drawn.y)
        if len(found) < pairs:
            return None
        keep = found[rng.permutation(len(found))[:pairs]].reshape(-1)[:n]
        return np.asarray(keep[rng.permutation(n)])

    return take


def _pair_by_bin(bins: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """[pairs, 2] indices (negative, positive) with equal ``bins``, as many as each bin allows."""
    found: list[np.ndarray] = [np.zeros((0, 2), dtype=np.int64)]
    for b in np.unique(bins):
        neg = np.flatnonzero((bins == b) & (labels == 0))
        pos = np.flatnonzero((bins == b) & (labels == 1))
        k = min(len(neg), len(pos))
        found.append(np.stack([neg[:k], pos[:k]], axis=1))
    return np.concatenate(found)


def min_size(ref: PathfinderDataset) -> int:
    """The smallest image side ``ref`` may be drawn at: its difficulty's (:data:`MIN_SIZES`),
    or the bare minimum when it sets its own length or distractors (the generator then refuses
    what does not fit)."""
    if ref.length is None and ref.distractors is None:
        return MIN_SIZES[ref.difficulty]
    return MIN_SIZE


def check_size(ref: PathfinderDataset, size: int) -> None:
    """A DatasetError when images would be drawn (at ``ref.size``, else at ``size``, the
    input's) smaller than :func:`min_size`, naming the field that sets the side."""
    side, need = ref.size or size, min_size(ref)
    if side >= need:
        return
    field = "input.size" if ref.size is None else "dataset.size"
    fix = f"set pathfinder:size={need} (then resized to the input) or a larger input size"
    if need == MIN_SIZE:
        raise DatasetError(field, f"pathfinder needs images of at least {need} px; {fix}", side)
    curves = 1 + DIFFICULTY[ref.difficulty][1]
    raise DatasetError(
        field,
        f"pathfinder:difficulty={ref.difficulty} needs images of at least {need} px to hold "
        f"its {curves} curves; {fix}, or an easier difficulty",
        side,
    )


def load(ref: PathfinderDataset, size: int, seed: int) -> RawData:
    check_size(ref, size)
    length, distractors = DIFFICULTY[ref.difficulty]
    n, side = ref.samples, ref.size or size
    length, distractors = ref.length or length, ref.distractors or distractors
    matched = MATCHED[ref.difficulty]
    params = {
        "v": GENERATOR_VERSION,
        "n": n,
        "size": side,
        "length": length,
        "distractors": distractors,
        "max_turn": ref.max_turn,
        "seed": seed,
        "matched": matched,
    }

    def build() -> tuple[np.ndarray, np.ndarray]:
        return generate(n, side, length, distractors, ref.max_turn, seed, matched)

    x, y = cached("pathfinder", params, build)
    return RawData(x, y, CLASS_NAMES)

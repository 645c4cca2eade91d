"""``pathfinder``: are the two marked dots the two ends of one curve, among distractor curves?

A task of long-range spatial integration (Linsley et al. 2018), where recurrence is known to help:
a local feature cannot tell, the curve has to be traced. Every image holds the same number of
curves: a positive has one curve with a dot at each end plus ``distractors`` unmarked curves; a
negative has two curves with one dot each plus ``distractors - 1`` unmarked ones. Curves never
touch each other (rejection sampling), so connectedness and the label agree.

The distance between the two dots would give the answer away without any tracing: a positive's
dots are the ends of one smooth curve, a negative's lie anywhere. Unmatched, at 32 px, a
threshold on that distance alone is right on 0.69 (``medium``) and 0.72 (``hard``) of the images,
a band on it on 0.85 and 0.82, at ``easy`` 0.84 and 0.89 (``bench/pathfinder_stats.py``). So
``medium`` and ``hard`` draw a larger pool and keep positives and negatives in pairs from the
same 1-px distance bin: both classes then have the same dot-distance distribution (``matched``:
0.52 by threshold, 0.53 by band). ``easy`` keeps its cue on purpose: the warm-up level.

Distractors are placed where they fit, and long ones often do not: at 32 px ``medium`` images
hold 2.3 curves on average (3 asked), ``hard`` 2.05 (4 asked). A placement that grows curves
around the occupied pixels would be needed to hold the counts.

Generation is vectorised over a chunk of images: each curve slot is drawn for every pending image
at once and redrawn only where it left the canvas or touched an earlier curve.
"""

from __future__ import annotations

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
GENERATOR_VERSION = 5
MIN_SIZE = PATHFINDER_MIN_SIZE
CLASS_NAMES = ("disconnected", "connected")
# (curve length as a fraction of the image side, distractors)
DIFFICULTY = {"easy": (0.4, 1), "medium": (0.6, 2), "hard": (0.9, 3)}
MATCHED = {"easy": False, "medium": True, "hard": True}  # dot-distance matched (see above)
_TRIES = 40
_CHUNK = 256
_RESTARTS = 8
_POOL_FACTOR = 8  # matched: give up after drawing this many times the images asked for


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

    off = _disc_offsets(dot_radius(img.shape[0]))
    r = int(off.max())
    disc = np.zeros((2 * r + 1, 2 * r + 1), dtype=bool)
    disc[off[:, 0] + r, off[:, 1] + r] = True
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
        self.thick = _disc_offsets(max(0.0, size / 64 - 0.5))
        self.gap = _disc_offsets(max(1.0, size / 64 - 0.5) + 1.0)  # clearance between curves
        # The dots must stand out from the 1-px curves at small sizes: a radius-1 '+' was hardly
        # a marker, and no model learnt the task (val acc at chance) until it became a disc.
        radius = dot_radius(size)
        self.dot = _disc_offsets(radius)
        # A dot's clearance: one pixel more than the dot, so that two dots (or a dot and a
        # curve's clearance) never share an edge or a corner: a negative's two curves stay two
        # 8-connected blobs (with the dot itself as clearance, 2.6% of easy negatives at 32 px
        # had their dots touching).
        self.dot_clear = _disc_offsets(radius + 1.0)
        self.margin = int(np.ceil(radius))  # keeps the end dots on the canvas

    def curves(self, rng: np.random.Generator, m: int) -> np.ndarray:
        """``m`` smooth random curves as dense centre-line points [m, P, 2] (y, x), floats.

        The shape is drawn first, then placed uniformly where its bounding box fits, so few
        curves are lost off the canvas (a curve too big for the canvas is left outside and
        rejected by the caller).
        """
        heading = rng.uniform(0, 2 * np.pi, (m, 1)) + np.cumsum(
            rng.uniform(-self.max_turn, self.max_turn, (m, self.segments)), axis=1
        )
        steps = self.seg_len * np.stack([np.sin(heading), np.cos(heading)], axis=2)
        corners = np.concatenate([np.zeros((m, 1, 2)), np.cumsum(steps, axis=1)], axis=1)
        low, high = corners.min(axis=1), corners.max(axis=1)  # [m, 2]
        room = (self.size - 1 - self.margin) - self.margin - (high - low)
        offset = self.margin - low + rng.uniform(0, 1, (m, 2)) * np.maximum(room, 0)
        offset[(room < 0).any(axis=1)] = -2.0 * self.size  # does not fit: push it off canvas
        corners = corners + offset[:, None, :]
        per_seg = int(np.ceil(self.seg_len / 0.4))
        t = (np.arange(per_seg) / per_seg)[None, None, :, None]
        dense = corners[:, :-1, None, :] + t * (corners[:, 1:, None, :] - corners[:, :-1, None, :])
        dense = dense.reshape(m, -1, 2)
        return np.concatenate([dense, corners[:, -1:, :]], axis=1)

    def flat(self, points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Flat pixel indices [m, P*O] of ``points`` [m, P, 2] stamped with ``offsets``."""
        m, p = points.shape[:2]
        pix = np.rint(points).astype(np.int64)[:, :, None, :] + offsets[None, None, :, :]
        pix = np.clip(pix, 0, self.size - 1).reshape(m, p * len(offsets), 2)
        return np.asarray(pix[..., 0] * self.size + pix[..., 1])


def _mask(idx: np.ndarray, pixels: int) -> np.ndarray:
    mask = np.zeros((len(idx), pixels), dtype=bool)
    mask[np.arange(len(idx))[:, None], idx] = True
    return mask


def _place(
    rng: np.random.Generator,
    geo: _Geometry,
    img: np.ndarray,
    occupied: np.ndarray,
    dots: np.ndarray,
    ends_out: np.ndarray | None = None,
) -> np.ndarray:
    """Draw one curve into every image (``dots`` [n, 2]: dot at start/end); return which failed.

    ``ends_out`` [n, 2, 2], if given, receives each placed curve's two end points (y, x).
    """
    pending = np.arange(len(img))
    lo, hi = geo.margin, geo.size - 1 - geo.margin
    for _ in range(_TRIES):
        if len(pending) == 0:
            break
        pts = geo.curves(rng, len(pending))
        ends = pts[:, [0, -1], :]
        inside = ((pts >= lo) & (pts <= hi)).all(axis=(1, 2))
        stroke = geo.flat(pts, geo.thick)
        near_dots = geo.flat(ends, geo.dot_clear)
        clear = _mask(np.concatenate([geo.flat(pts, geo.gap), near_dots], axis=1), img.shape[1])
        free = ~(clear & occupied[pending]).any(axis=1)
        ok = inside & free
        rows = pending[ok]
        if ends_out is not None:
            ends_out[rows] = ends[ok]
        img[rows[:, None], stroke[ok]] = 255
        for end in (0, 1):
            marked = dots[rows, end]
            per_dot = geo.flat(ends[ok][marked][:, end : end + 1], geo.dot)
            img[rows[marked][:, None], per_dot] = 255
        occupied[rows] |= clear[ok]
        pending = pending[~ok]
    failed = np.zeros(len(img), dtype=bool)
    failed[pending] = True
    return failed


def _draw(
    rng: np.random.Generator, geo: _Geometry, labels: np.ndarray, distractors: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat images [n, size*size], the distance between each image's two dots [n], and which
    images failed to get their two required curves [n] (not redrawn here)."""
    n, pixels = len(labels), geo.size**2
    img = np.zeros((n, pixels), dtype=np.uint8)
    occupied = np.zeros((n, pixels), dtype=bool)
    pos = labels == 1
    # Slot 0: positives get both dots, negatives one. Slot 1: negatives' second marked curve,
    # positives' first distractor. Both slots are required in both classes (else a lone curve
    # would give a positive away); further distractors are optional in both alike.
    first = np.stack([np.ones(n, dtype=bool), pos], axis=1)
    second = np.stack([~pos, np.zeros(n, dtype=bool)], axis=1)
    ends = np.zeros((2, n, 2, 2))
    failed = _place(rng, geo, img, occupied, first, ends[0])
    failed |= _place(rng, geo, img, occupied, second, ends[1])
    # the dots: a positive's at both ends of curve 0, a negative's at the starts of curves 0, 1
    other = np.where(pos[:, None], ends[0, :, 1], ends[1, :, 0])
    dist = np.hypot(*(ends[0, :, 0] - other).T)
    no_dots = np.zeros((n, 2), dtype=bool)
    for _ in range(distractors - 1):
        _place(rng, geo, img, occupied, no_dots)  # a distractor that found no room is left out
    return img, dist, failed


def _does_not_fit(geo: _Geometry) -> DatasetError:
    shorter = max(0.1, round(geo.length / 2, 2))
    return DatasetError(
        "dataset.length",
        f"cannot fit two separate curves of length {geo.length:g} in {geo.size}x{geo.size} "
        f"images; use shorter curves (pathfinder:length={shorter:g} or "
        f"pathfinder:difficulty=easy) or larger images (--input-size {geo.size * 2} for "
        f"convnas train, or pathfinder:size={geo.size * 2}, resized to the input)",
        geo.length,
    )


def _chunk(
    rng: np.random.Generator,
    geo: _Geometry,
    labels: np.ndarray,
    distractors: int,
    depth: int = 0,
) -> np.ndarray:
    """Images [n, size, size], every one with its required curves (failures are redrawn)."""
    img, _, failed = _draw(rng, geo, labels, distractors)
    if failed.any():  # rare: start those images again from scratch
        if depth >= _RESTARTS:
            raise _does_not_fit(geo)
        redo = _chunk(rng, geo, labels[failed], distractors, depth + 1)
        img[failed] = redo.reshape(int(failed.sum()), -1)
    return img.reshape(len(labels), geo.size, geo.size)


def generate(
    n: int,
    size: int,
    length: float,
    distractors: int,
    max_turn: float,
    seed: int,
    matched: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images [n, size, size] uint8 and labels (1 = connected), balanced, from ``seed``.

    ``matched``: both classes have the same distribution of the distance between the dots.
    """
    rng = np.random.default_rng(seed)
    geo = _Geometry(size, length, max_turn)
    if matched:
        return _matched(rng, geo, n, distractors)
    labels = rng.permutation(np.arange(n) % 2).astype(np.int64)
    chunks = [_chunk(rng, geo, labels[i : i + _CHUNK], distractors) for i in range(0, n, _CHUNK)]
    return np.concatenate(chunks), labels


def _matched(
    rng: np.random.Generator, geo: _Geometry, n: int, distractors: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of one positive and one negative whose dot distances fall in the same 1-px bin,
    drawn from a growing pool until there are enough (an odd ``n`` ends on a negative).
    Images whose curves did not fit are dropped from the pool, not redrawn."""
    pairs = (n + 1) // 2
    images: list[np.ndarray] = []
    dists: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    chunks = 8 + _POOL_FACTOR * n // _CHUNK  # about 2x n suffice at medium and hard
    for _ in range(chunks):
        chunk_labels = rng.permutation(np.arange(_CHUNK) % 2).astype(np.int64)
        img, dist, failed = _draw(rng, geo, chunk_labels, distractors)
        if failed.all():
            raise _does_not_fit(geo)
        images.append(img[~failed])
        dists.append(dist[~failed])
        labels.append(chunk_labels[~failed])
        found = _pair_by_bin(np.concatenate(dists).astype(np.int64), np.concatenate(labels))
        if len(found) >= pairs:
            keep = found[rng.permutation(len(found))[:pairs]].reshape(-1)[:n]
            order = rng.permutation(n)
            x = np.concatenate(images)[keep][order].reshape(n, geo.size, geo.size)
            return x, np.concatenate(labels)[keep][order]
    raise DatasetError(
        "dataset.samples",
        f"could not match the dot distances of {n} images in {chunks * _CHUNK} tries",
        n,
    )


def _pair_by_bin(bins: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """[pairs, 2] indices (negative, positive) with equal ``bins``, as many as each bin allows."""
    found: list[np.ndarray] = []
    for b in np.unique(bins):
        neg = np.flatnonzero((bins == b) & (labels == 0))
        pos = np.flatnonzero((bins == b) & (labels == 1))
        k = min(len(neg), len(pos))
        found.append(np.stack([neg[:k], pos[:k]], axis=1))
    return np.concatenate(found)


def check_size(ref: PathfinderDataset, size: int) -> None:
    """A DatasetError when images would be drawn at ``size`` (the input's) below the minimum."""
    if ref.size is None and size < MIN_SIZE:
        raise DatasetError(
            "input.size",
            f"pathfinder needs images of at least {MIN_SIZE} px; set pathfinder:size={MIN_SIZE} "
            "(then resized to the input) or a larger input size",
            size,
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

"""What the search page's interactive plots draw (issue 23): the trials as columns (sampled
values, objectives, status, node, times) for parallel coordinates, slices and the timeline; the
EDF of the first objective; every shown trial's validation curve; a contour grid per parameter
pair.

Bounded at any search size: at most ``MAX_ROWS`` trials are sent (the best ``KEEP_BEST`` by the
first objective, the running ones, and an even spread of the rest, by number), at most
``MAX_CURVES`` curves, at most ``EDF_POINTS`` EDF points (computed over every completed trial)
and a ``GRID`` x ``GRID`` contour (aggregated over the completed trials: an even spread of
``MAX_SCANNED`` when there are more).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import Session

from search.errors import InvalidRequest
from search.records import repository as repo
from search.records.db import Search, Trial, TrialMetric, read_scope
from search.records.leaderboard import default_sort, objectives_of, parse_sort
from search.records.param_filters import choices, search_domains, show
from space.params import FloatRange, SearchDomain
from space.status import TrialStatus
from space.trial_fields import objective

MAX_ROWS = 4000
KEEP_BEST = 1000
MAX_CURVES = 300
CURVES_BEST = 100
EDF_POINTS = 200
GRID = 16
# The most trials a plot reads every value of (JSON documents): an even spread beyond.
MAX_SCANNED = 20_000


class ParamAxis(BaseModel):
    label: str
    kind: Literal["number", "choice"]
    log: bool = Field(default=False, description="A log-uniform float: drawn on a log axis")
    low: float | None = None
    high: float | None = None
    choices: list[str] | None = Field(
        default=None, description="A choice's values as filters write them; rows hold the index"
    )


class ObjectiveAxis(BaseModel):
    metric: str
    goal: str


class ExploreOut(BaseModel):
    """Column-wise: entry i of every list is the same trial."""

    search_id: int
    objectives: list[ObjectiveAxis]
    params: list[ParamAxis]
    total: int = Field(description="Trials in the search, any status")
    sampled: bool = Field(description="Only some trials are here (see the module's rule)")
    origin: datetime | None = Field(description="The first trial's start: times count from it")
    trial: list[int]
    status: list[str]
    values: dict[str, list[float | None]] = Field(description="Objective metric -> values")
    sampled_values: dict[str, list[float | None]] = Field(
        description="Parameter label -> value (a choice's index into its axis's choices)"
    )
    node: list[str | None]
    started: list[float | None] = Field(description="Seconds from origin")
    finished: list[float | None] = Field(description="Seconds from origin")
    epochs: list[int]
    edf: list[tuple[float, float]] = Field(
        description="The first objective: (value, fraction of completed trials at or below it)"
    )


class Curve(BaseModel):
    trial: int
    status: str
    epochs: list[int]
    val_acc: list[float | None]


class CurvesOut(BaseModel):
    search_id: int
    total: int = Field(description="Trials with at least one epoch")
    sampled: bool
    items: list[Curve]


class ContourOut(BaseModel):
    """Mean of the first objective per cell of a grid over two parameters (completed trials)."""

    search_id: int
    metric: str
    x: ParamAxis
    y: ParamAxis
    x_centers: list[float] = Field(description="Cell centres (a choice's index for choices)")
    y_centers: list[float]
    mean: list[list[float | None]] = Field(description="mean[j][i]: row j (y), column i (x)")
    count: list[list[int]]
    trials: int = Field(description="Completed trials with both parameters")
    sampled: bool = Field(
        description="Over an even spread of MAX_SCANNED of the completed trials (more there are)"
    )


def axis(label: str, domain: SearchDomain) -> ParamAxis:
    """How the plots draw a parameter: a choice (even of numbers: a few values, evenly spaced)
    or a number range."""
    picked = choices(domain)
    if picked is not None:
        return ParamAxis(label=label, kind="choice", choices=[show(c) for c in picked])
    low, high = _bounds(domain)
    return ParamAxis(
        label=label,
        kind="number",
        log=isinstance(domain, FloatRange) and domain.log,
        low=low,
        high=high,
    )


def _bounds(domain: SearchDomain) -> tuple[float | None, float | None]:
    low, high = getattr(domain, "low", None), getattr(domain, "high", None)
    return (float(low) if low is not None else None, float(high) if high is not None else None)


def _axes(search: Search) -> list[ParamAxis]:
    return [axis(label, domain) for label, domain in search_domains(search).items()]


def _encoder(ax: ParamAxis) -> Callable[[Any], float | None]:
    """A sampled value as the plots draw it: the number, or its choice's index (None: not
    sampled, or a value the axis does not hold)."""
    if ax.choices is not None:
        index = {text: float(i) for i, text in enumerate(ax.choices)}
        return lambda value: index.get(show(value))
    return _number


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _column(rows: Any, ax: ParamAxis) -> list[float | None]:
    encode = _encoder(ax)
    return [encode((r.params or {}).get(ax.label)) for r in rows]


def explore(engine: Engine, ref: str | int) -> ExploreOut:
    """The trials of a search as the interactive plots read them (bounded; see the module)."""
    with read_scope(engine) as s:
        search = repo.resolve_search(s, ref)
        objectives = objectives_of(search.spec)
        axes = _axes(search)
        total = s.scalar(select(func.count()).where(Trial.search_id == search.id)) or 0
        numbers = _shown_numbers(s, search, total)
        metrics = [o.metric for o in objectives]
        columns = [objective(m).stored for m in metrics]
        rows = _rows(s, search.id, numbers, columns)
        edf = _edf(s, search)
    origin = min((r.started_at for r in rows if r.started_at is not None), default=None)
    return ExploreOut(
        search_id=search.id,
        objectives=[ObjectiveAxis(metric=o.metric, goal=o.direction) for o in objectives],
        params=axes,
        total=total,
        sampled=numbers is not None,
        origin=origin,
        trial=[r.number for r in rows],
        status=[r.status for r in rows],
        values={
            m: [_finite(getattr(r, c)) for r in rows] for m, c in zip(metrics, columns, strict=True)
        },
        sampled_values={a.label: _column(rows, a) for a in axes},
        node=[r.node for r in rows],
        started=[_seconds(r.started_at, origin) for r in rows],
        finished=[_seconds(r.finished_at, origin) for r in rows],
        epochs=[r.epochs for r in rows],
        edf=edf,
    )


def _shown_numbers(s: Session, search: Search, total: int) -> list[int] | None:
    """The trial numbers to send, or None for every trial (when there are few enough)."""
    if total <= MAX_ROWS:
        return None
    mine = Trial.search_id == search.id
    return sorted(_kept_numbers(s, search, mine, total, MAX_ROWS, KEEP_BEST))


def _kept_numbers(
    s: Session, search: Search, where: Any, total: int, cap: int, best: int
) -> list[int]:
    """At most ``cap`` numbers of the trials ``where`` matches (``total`` of them), in this
    priority: the running ones, the ``best`` by the first objective, an even spread of the rest."""
    column, goal, _ = parse_sort(default_sort(objectives_of(search.spec)))
    order = column.desc() if goal == "max" else column.asc()
    kept = list(s.scalars(select(Trial.number).where(where, Trial.status == TrialStatus.RUNNING)))
    ranked = select(Trial.number).where(where, column.is_not(None)).order_by(order, Trial.number)
    kept += list(s.scalars(ranked.limit(best)))
    stride = max(1, math.ceil(total / max(1, cap - len(kept))))
    kept += list(s.scalars(select(Trial.number).where(where, Trial.number % stride == 0)))
    return list(dict.fromkeys(kept))[:cap]


def _rows(s: Session, search_id: int, numbers: list[int] | None, columns: Sequence[str]) -> Any:
    wanted = [getattr(Trial, c) for c in dict.fromkeys(columns)]
    stmt: Select[Any] = select(
        Trial.number, Trial.status, Trial.params, Trial.node, Trial.started_at,
        Trial.finished_at, Trial.epochs, *wanted,
    ).where(Trial.search_id == search_id)  # fmt: skip
    if numbers is None:
        return list(s.execute(stmt.order_by(Trial.number)))
    found: list[Any] = []
    for at in range(0, len(numbers), 1000):  # bounded IN lists
        part = stmt.where(Trial.number.in_(numbers[at : at + 1000]))
        found.extend(s.execute(part))
    return sorted(found, key=lambda r: r.number)


def _edf(s: Session, search: Search) -> list[tuple[float, float]]:
    """The first objective's EDF over every completed trial, at most EDF_POINTS points."""
    column = parse_sort(default_sort(objectives_of(search.spec)))[0]
    done = (Trial.search_id == search.id) & (Trial.status == TrialStatus.COMPLETED)
    values = sorted(v for v in s.scalars(select(column).where(done, column.is_not(None))))
    n = len(values)
    if not n:
        return []
    picks = sorted({round(i * (n - 1) / (EDF_POINTS - 1)) for i in range(EDF_POINTS)})
    return [(float(values[i]), (i + 1) / n) for i in picks]


def curves(engine: Engine, ref: str | int, status: str | None = None) -> CurvesOut:
    """Each shown trial's validation accuracy per epoch (intermediate values): the running
    trials, the best CURVES_BEST and an even spread of the rest; ``status=running``: only the
    running trials (the live view's poll)."""
    if status not in (None, TrialStatus.RUNNING):
        raise InvalidRequest.field("status", "only running (or none: every trial)", status)
    with read_scope(engine) as s:
        search = repo.resolve_search(s, ref)
        mine = (Trial.search_id == search.id) & (Trial.epochs > 0)
        if status is not None:
            mine = mine & (Trial.status == TrialStatus.RUNNING)
        total = s.scalar(select(func.count()).where(mine)) or 0
        numbers = _curve_trials(s, search, mine, total)
        items = _curve_items(s, search.id, numbers)
        return CurvesOut(search_id=search.id, total=total, sampled=len(items) < total, items=items)


def _curve_trials(s: Session, search: Search, mine: Any, total: int) -> list[int]:
    if total <= MAX_CURVES:
        return list(s.scalars(select(Trial.number).where(mine)))
    return _kept_numbers(s, search, mine, total, MAX_CURVES, CURVES_BEST)


def _curve_items(s: Session, search_id: int, numbers: list[int]) -> list[Curve]:
    mine = (Trial.search_id == search_id) & Trial.number.in_(numbers)
    heads = {r.id: r for r in s.execute(select(Trial.id, Trial.number, Trial.status).where(mine))}
    points: dict[int, list[tuple[int, float | None]]] = {i: [] for i in heads}
    stmt = select(TrialMetric.trial_id, TrialMetric.epoch, TrialMetric.val_acc)
    for row in s.execute(stmt.where(TrialMetric.trial_id.in_(heads)).order_by(TrialMetric.epoch)):
        points[row.trial_id].append((row.epoch, _finite(row.val_acc)))
    return [
        Curve(
            trial=heads[i].number,
            status=heads[i].status,
            epochs=[e for e, _ in points[i]],
            val_acc=[v for _, v in points[i]],
        )
        for i in sorted(heads, key=lambda i: heads[i].number)
        if points[i]
    ]


def contour(engine: Engine, ref: str | int, x: str, y: str) -> ContourOut:
    """The first objective's mean per cell of a GRID x GRID grid over parameters ``x`` and ``y``
    (a choice parameter: one cell per choice), over every completed trial that sampled both."""
    with read_scope(engine) as s:
        search = repo.resolve_search(s, ref)
        axes = {a.label: a for a in _axes(search)}
        for name, label in (("x", x), ("y", y)):
            if label not in axes:
                known = ", ".join(axes) or "none"
                raise InvalidRequest.field(
                    name, f"not a searched parameter (one of {known})", label
                )
        if x == y:
            raise InvalidRequest.field("y", "must differ from x", y)
        column, _, metric = parse_sort(default_sort(objectives_of(search.spec)))
        done = (Trial.search_id == search.id) & (Trial.status == TrialStatus.COMPLETED)
        done &= column.is_not(None)
        spread = even_spread(s, done)
        rows = s.execute(select(Trial.params, column).where(done, *spread))
        ex, ey = _encoder(axes[x]), _encoder(axes[y])
        points = [
            (px, py, float(v))
            for params, v in rows
            if (px := ex((params or {}).get(x))) is not None
            and (py := ey((params or {}).get(y))) is not None
        ]
    grid = _grid(search.id, metric, axes[x], axes[y], points)
    return grid.model_copy(update={"sampled": bool(spread)})


def even_spread(s: Session, where: Any) -> list[Any]:
    """The extra condition that keeps an even spread (by trial number) of at most about
    MAX_SCANNED of the trials ``where`` matches: none when there are no more than that. What
    bounds the plots that read every trial's values (the contour, the ConvRNN views)."""
    total = s.scalar(select(func.count()).where(where)) or 0
    if total <= MAX_SCANNED:
        return []
    return [Trial.number % math.ceil(total / MAX_SCANNED) == 0]


def _grid(
    search_id: int,
    metric: str,
    ax: ParamAxis,
    ay: ParamAxis,
    points: list[tuple[float, float, float]],
) -> ContourOut:
    xs, ys = _Bins(ax), _Bins(ay)
    total = [[0.0] * xs.size for _ in range(ys.size)]
    count = [[0] * xs.size for _ in range(ys.size)]
    for px, py, v in points:
        i, j = xs.index(px), ys.index(py)
        total[j][i] += v
        count[j][i] += 1
    mean = [
        [t / c if c else None for t, c in zip(tr, cr, strict=True)]
        for tr, cr in zip(total, count, strict=True)
    ]
    return ContourOut(
        search_id=search_id, metric=metric, x=ax, y=ay, x_centers=xs.centers(),
        y_centers=ys.centers(), mean=mean, count=count, trials=len(points), sampled=False,
    )  # fmt: skip


class _Bins:
    """GRID equal bins over a number axis (in log space for a log axis), one per choice."""

    def __init__(self, ax: ParamAxis):
        self.choice = ax.choices is not None
        self.size = len(ax.choices or ()) if self.choice else GRID
        self.log = ax.log and (ax.low or 0) > 0
        low, high = ax.low if ax.low is not None else 0.0, ax.high if ax.high is not None else 1.0
        self.low, self.high = (math.log10(low), math.log10(high)) if self.log else (low, high)

    def _t(self, v: float) -> float:
        return math.log10(v) if self.log and v > 0 else v

    def index(self, v: float) -> int:
        if self.choice:
            return int(v)
        span = (self.high - self.low) or 1.0
        return min(self.size - 1, max(0, int((self._t(v) - self.low) / span * self.size)))

    def centers(self) -> list[float]:
        if self.choice:
            return [float(i) for i in range(self.size)]
        step = (self.high - self.low) / self.size
        at = [self.low + step * (i + 0.5) for i in range(self.size)]
        return [10**c for c in at] if self.log else at


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _seconds(at: datetime | None, origin: datetime | None) -> float | None:
    if at is None or origin is None:
        return None
    return round((at - origin).total_seconds(), 3)

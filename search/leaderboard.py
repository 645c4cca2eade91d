"""Leaderboard queries: one search's trials filtered, ordered by a metric, one page at a time.

Requests name their fields (``sort``, ``status``, ``limit``, ``offset``, ``params_max``...): the
errors are :class:`~search.errors.InvalidRequest` naming the field, which the CLI maps to flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from search.db import Search, Trial
from search.errors import InvalidRequest, NotFound
from search.pareto import Goal, Ranked
from space.spec import Objective
from space.status import TrialStatus

# Sort keys: metric name -> (column, natural direction).
SORT_COLUMNS: dict[str, tuple[Any, Goal]] = {
    "val_acc": (Trial.best_val_acc, "max"),
    "last_val_acc": (Trial.last_val_acc, "max"),
    "params": (Trial.n_params, "min"),
    "flops": (Trial.flops, "min"),
    "memory": (Trial.activation_memory, "min"),
    "seconds": (Trial.train_seconds, "min"),
    "epochs": (Trial.epochs, "max"),
    "number": (Trial.number, "min"),
}
# Range filters: field -> column (inclusive bounds).
RANGE_COLUMNS = {"params": Trial.n_params, "flops": Trial.flops}
DEFAULT_STATUSES = (TrialStatus.COMPLETED,)


@dataclass(frozen=True)
class TrialQuery:
    """What a leaderboard request asks for; ``None`` fields take the defaults below.

    sort: a SORT_COLUMNS key, ``+key`` ascending, ``-key`` descending (default: the search's
    first objective). status: ``completed`` (default), a comma list, or ``all``. limit: page
    size (None: every row). Ranges: ``params_min``... inclusive.
    """

    sort: str | None = None
    status: str | None = None
    pareto: bool = False
    limit: int | None = None
    offset: int = 0
    params_min: int | None = None
    params_max: int | None = None
    flops_min: int | None = None
    flops_max: int | None = None


def objectives_of(spec_data: Mapping[str, Any]) -> list[Objective]:
    """The objectives of a stored spec (``val_acc`` when it names none)."""
    raw = spec_data.get("objectives") or ["val_acc"]
    return [Objective.model_validate(item) for item in raw]


def default_sort(objectives: Sequence[Ranked]) -> str:
    """The first objective, best first: the one default every leaderboard uses."""
    first = objectives[0] if objectives else Objective(metric="val_acc")
    key = first.metric if first.metric in SORT_COLUMNS else "val_acc"
    return ("-" if first.direction == "max" else "+") + key


def parse_sort(sort: str) -> tuple[Any, Goal, str]:
    """``val_acc`` (natural direction), ``+params`` (ascending) or ``-params`` (descending)."""
    key = sort.strip()
    direction: Goal | None = None
    if key[:1] in ("+", "-"):
        direction = "min" if key[0] == "+" else "max"
        key = key[1:]
    if key not in SORT_COLUMNS:
        raise InvalidRequest.field(
            "sort",
            f"unknown metric; choose one of {', '.join(SORT_COLUMNS)} "
            "(prefix + or - to force ascending or descending)",
            sort,
        )
    column, natural = SORT_COLUMNS[key]
    return column, direction or natural, key


def parse_statuses(status: str | None) -> tuple[str, ...] | None:
    """``completed`` (default), a comma list, or ``all`` (None: no filter)."""
    if status is None:
        return DEFAULT_STATUSES
    if status.strip() == "all":
        return None
    wanted = tuple(s.strip() for s in status.split(",") if s.strip())
    known = {str(s) for s in TrialStatus}
    if not wanted or any(s not in known for s in wanted):
        raise InvalidRequest.field(
            "status", f"unknown status; choose from {', '.join(TrialStatus)} or all", status
        )
    return wanted


def _check_page(query: TrialQuery) -> None:
    if query.limit is not None and query.limit < 1:
        raise InvalidRequest.field("limit", "must be at least 1", query.limit)
    if query.offset < 0:
        raise InvalidRequest.field("offset", "must be at least 0", query.offset)


def _filtered(search_id: int, query: TrialQuery, column: Any) -> Select[Trial]:
    statuses = parse_statuses(query.status)
    stmt = select(Trial).where(Trial.search_id == search_id)
    if query.status is None:
        # Completed trials with the metric: the (search_id, status, metric) indexes serve it.
        stmt = stmt.where(column.is_not(None))
    if statuses is not None:
        stmt = stmt.where(
            Trial.status == statuses[0] if len(statuses) == 1 else Trial.status.in_(statuses)
        )
    if query.pareto:
        stmt = stmt.where(Trial.pareto.is_(True))
    for name, col in RANGE_COLUMNS.items():
        low, high = getattr(query, f"{name}_min"), getattr(query, f"{name}_max")
        if low is not None:
            stmt = stmt.where(col >= low)
        if high is not None:
            stmt = stmt.where(col <= high)
    return stmt


def leaderboard(
    session: Session, search: Search, query: TrialQuery = TrialQuery()
) -> tuple[list[Trial], int, str]:
    """One page of trials best first, the number matching, and the sort used.

    An explicit ``status`` lists trials without the metric (failed ones, say) last.
    """
    _check_page(query)
    sort = query.sort or default_sort(objectives_of(search.spec))
    column, goal, _ = parse_sort(sort)
    stmt = _filtered(search.id, query, column)
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    order = column.desc() if goal == "max" else column.asc()
    if query.status is not None:
        order = order.nulls_last()
    stmt = stmt.order_by(order, Trial.number.asc()).offset(query.offset)
    if query.limit is not None:
        stmt = stmt.limit(query.limit)
    return list(session.scalars(stmt)), total, sort


def best_trial(session: Session, search: Search) -> Trial:
    """The best completed trial by the first objective (among Pareto trials when several)."""
    objectives = objectives_of(search.spec)
    query = TrialQuery(limit=1, pareto=len(objectives) > 1)
    rows, _, _ = leaderboard(session, search, query)
    if not rows:
        raise NotFound(f"search {search.id} ({search.name}) has no completed trial yet")
    return rows[0]


def rank_of(session: Session, search: Search, trial: Trial) -> int | None:
    """The trial's position in the default leaderboard (None when it is not on it)."""
    column, goal, _ = parse_sort(default_sort(objectives_of(search.spec)))
    value = getattr(trial, column.key)
    if trial.status != TrialStatus.COMPLETED or value is None:
        return None
    better = column > value if goal == "max" else column < value
    ahead = session.scalar(
        select(func.count()).where(
            Trial.search_id == search.id,
            Trial.status == TrialStatus.COMPLETED,
            better | ((column == value) & (Trial.number < trial.number)),
        )
    )
    return int(ahead or 0) + 1

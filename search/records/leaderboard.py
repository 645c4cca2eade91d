"""Leaderboard queries: one search's trials filtered, ordered by a metric, one page at a time.

Requests name their fields (``sort``, ``status``, ``limit``, ``offset``, ``params_max``...): the
errors are :class:`~search.errors.InvalidRequest` naming the field, which the CLI maps to flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from search.errors import InvalidRequest, NotFound
from search.records.db import Search, Trial, encode_cells
from search.records.param_filters import parse_filters, search_domains
from search.records.pareto import Goal, Ranked
from space.arch import CELL_KINDS
from space.spec import Objective
from space.status import TrialStatus
from space.trial_fields import RANGE_FILTERS, SORTABLE, UnknownField, field, objective

# Sort keys: key -> (column, natural direction); range filters: field -> column (inclusive
# bounds). Both from the one table of trial fields.
SORT_COLUMNS: dict[str, tuple[Any, Goal]] = {
    key: (getattr(Trial, f.stored), f.goal) for key, f in SORTABLE.items() if f.goal
}
RANGE_COLUMNS = {name: getattr(Trial, field(name).stored) for name in RANGE_FILTERS}
RANGE_FIELDS = tuple(f"{name}_{end}" for name in RANGE_COLUMNS for end in ("min", "max"))
DEFAULT_STATUSES = (TrialStatus.COMPLETED,)


@dataclass(frozen=True)
class TrialQuery:
    """What a leaderboard request asks for; ``None`` fields take the defaults below.

    sort: a SORT_COLUMNS key, ``+key`` ascending, ``-key`` descending (default: the search's
    first objective). status: ``completed`` (default), a comma list, or ``all``. limit: page
    size (None: every row). Ranges: ``params_min``... inclusive. cell_kind: only trials whose
    arch has a layer with that cell (``rgc``, ``lstm``...); ``none``: only feedforward archs.
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
    cell_kind: str | None = None
    param: tuple[str, ...] = ()


# A range filter of the table without its TrialQuery bounds would be silently ignored.
_MISSING_RANGES = set(RANGE_FIELDS) - {f.name for f in fields(TrialQuery)}
if _MISSING_RANGES:
    raise UnknownField(", ".join(sorted(_MISSING_RANGES)), "TrialQuery field", RANGE_FIELDS)


def objectives_of(spec_data: Mapping[str, Any]) -> list[Objective]:
    """The objectives of a stored spec (``val_acc`` when it names none)."""
    raw = spec_data.get("objectives") or ["val_acc"]
    return [Objective.model_validate(item) for item in raw]


def default_sort(objectives: Sequence[Ranked]) -> str:
    """The first objective, best first: the one default every leaderboard uses."""
    first = objectives[0] if objectives else Objective(metric="val_acc")
    # Every objective is a sort key of its own name (trial_fields checks); an unknown raises.
    key = objective(first.metric).name
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


def cell_filter(kind: str) -> ColumnElement[bool]:
    """Trials whose arch uses cell ``kind`` (``none``: no recurrent cell at all)."""
    if kind not in CELL_KINDS:
        raise InvalidRequest.field(
            "cell_kind", f"unknown cell kind; choose one of {', '.join(CELL_KINDS)}", kind
        )
    if kind == "none":
        return Trial.cell_kinds == encode_cells([])
    return Trial.cell_kinds.contains(encode_cells([kind]), autoescape=True)


# What SQL can hold: offsets and counts are 64-bit (a larger value is refused, not sent).
MAX_OFFSET = 2**62
MAX_AMOUNT = 2**63 - 1


def check_page(limit: int | None, offset: int) -> None:
    """The one rule for a page request (leaderboards and search lists, every way in)."""
    if limit is not None and limit < 1:
        raise InvalidRequest.field("limit", "must be at least 1", limit)
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidRequest.field("offset", f"must be between 0 and {MAX_OFFSET}", offset)


def _check_page(query: TrialQuery) -> None:
    check_page(query.limit, query.offset)
    for name in RANGE_FIELDS:
        value = getattr(query, name)
        if value is not None and not 0 <= value <= MAX_AMOUNT:
            raise InvalidRequest.field(name, f"must be between 0 and {MAX_AMOUNT}", value)


@dataclass(frozen=True)
class Board:
    """A checked leaderboard request of one search: what to match and in which order."""

    search_id: int
    sort: str
    column: Any
    goal: Goal
    # Trials without the sort metric are listed (last) only when statuses were asked for.
    with_nulls: bool
    where: tuple[ColumnElement[bool], ...]


def board_of(search: Search, query: TrialQuery) -> Board:
    """Check ``query`` (InvalidRequest naming the field) and settle its sort and filters."""
    _check_page(query)
    sort = query.sort or default_sort(objectives_of(search.spec))
    column, goal, _ = parse_sort(sort)
    statuses = parse_statuses(query.status)
    where: list[ColumnElement[bool]] = [Trial.search_id == search.id]
    if query.status is None:
        # Completed trials with the metric (db.BOARD_INDEXES hold each key's order).
        where.append(column.is_not(None))
    if statuses is not None:
        where.append(
            Trial.status == statuses[0] if len(statuses) == 1 else Trial.status.in_(statuses)
        )
    if query.pareto:
        where.append(Trial.pareto.is_(True))
    for name, col in RANGE_COLUMNS.items():
        low, high = getattr(query, f"{name}_min"), getattr(query, f"{name}_max")
        if low is not None:
            where.append(col >= low)
        if high is not None:
            where.append(col <= high)
    if query.cell_kind is not None:
        where.append(cell_filter(query.cell_kind))
    if query.param:
        filters = parse_filters(query.param, search_domains(search))
        where.extend(f.clause() for f in filters)
    return Board(search.id, sort, column, goal, query.status is not None, tuple(where))


def _order(board: Board) -> tuple[Any, Any]:
    """The key in its direction, then the number. Trials without the key are never in the same
    query as those with it (they come after, by number): the plain order is what the sort
    indexes hold on both backends, where NULLS LAST would make PostgreSQL sort every row."""
    return (board.column.desc() if board.goal == "max" else board.column.asc()), Trial.number.asc()


def leaderboard(
    session: Session, search: Search, query: TrialQuery = TrialQuery()
) -> tuple[list[Trial], int, str]:
    """One page of trials best first, the number matching, and the sort used.

    An explicit ``status`` lists trials without the metric (failed ones, say) last.
    """
    board = board_of(search, query)
    total = _count(session, board.where)
    numbers = _page_numbers(session, board, query.offset, query.limit)
    return _trials_numbered(session, board.search_id, numbers), total, board.sort


def _count(session: Session, where: Sequence[ColumnElement[bool]]) -> int:
    return int(session.scalar(select(func.count()).select_from(Trial).where(*where)) or 0)


def _window(stmt: Select[int], offset: int, limit: int | None) -> Select[int]:
    stmt = stmt.offset(offset) if offset else stmt
    return stmt.limit(limit) if limit is not None else stmt


def _page_numbers(session: Session, board: Board, offset: int, limit: int | None) -> list[int]:
    """The page's trial numbers, read from the sort key's index alone (a deep offset skips
    index entries, not rows)."""
    ranked = [*board.where, board.column.is_not(None)]
    stmt = select(Trial.number).where(*ranked).order_by(*_order(board))
    found = list(session.scalars(_window(stmt, offset, limit)))
    if not board.with_nulls or (limit is not None and len(found) == limit):
        return found
    # Past the ranked trials: those without the key, by number.
    skip = 0 if found else max(0, offset - _count(session, ranked))
    stmt = select(Trial.number).where(*board.where, board.column.is_(None))
    stmt = _window(
        stmt.order_by(Trial.number.asc()), skip, None if limit is None else limit - len(found)
    )
    return found + list(session.scalars(stmt))


def _trials_numbered(session: Session, search_id: int, numbers: list[int]) -> list[Trial]:
    """The trials of these numbers, in this order."""
    found: dict[int, Trial] = {}
    for start in range(0, len(numbers), 1000):  # bounded IN lists for an unlimited page
        part = numbers[start : start + 1000]
        stmt = select(Trial).where(Trial.search_id == search_id, Trial.number.in_(part))
        found.update((trial.number, trial) for trial in session.scalars(stmt))
    return [found[n] for n in numbers]


# The last row of a chunk: (its sort value, its number).
Key = tuple[Any, int]


def board_chunk(
    session: Session, board: Board, columns: Sequence[Any], after: Key | None, size: int
) -> list[tuple[Any, ...]]:
    """The ``size`` rows after ``after`` in the board's order (``columns`` of each, then the
    sort value and the number as the next call's key): keyset paging, so that reading every row
    costs the same per chunk at any depth and a chunk is one short transaction."""
    base = select(*columns, board.column, Trial.number).where(*board.where)
    value, number = after if after is not None else (None, -1)
    rows: list[tuple[Any, ...]] = []
    if after is None or value is not None:
        ranked = base.where(board.column.is_not(None))
        if after is not None:
            max_goal = board.goal == "max"
            ahead = board.column <= value if max_goal else board.column >= value
            beyond = board.column < value if max_goal else board.column > value
            ranked = ranked.where(ahead, beyond | (Trial.number > number))
        rows = [tuple(r) for r in session.execute(ranked.order_by(*_order(board)).limit(size))]
        if len(rows) == size or not board.with_nulls:
            return rows
        number = -1
    # Then the trials without the metric, by number (the leaderboard lists them last).
    unranked = base.where(board.column.is_(None), Trial.number > number)
    unranked = unranked.order_by(Trial.number.asc()).limit(size - len(rows))
    return rows + [tuple(r) for r in session.execute(unranked)]


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

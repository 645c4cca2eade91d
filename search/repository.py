"""Queries and record updates over searches, trials and trial metrics.

Read side: resolve a search by id or name, list searches with their trial counts, leaderboards
(one indexed query per page), Pareto flags. Write side: the small set of state transitions the
driver performs (trial proposed, epoch reported, trial finished), each idempotent so that nothing is
recorded twice when an event is replayed after a crash.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, and_, func, select, update
from sqlalchemy.orm import Session

from search.db import (
    FINISHED_TRIAL_STATUSES,
    TRIAL_STATUSES,
    Search,
    Trial,
    TrialMetric,
    clean_json,
    finite,
    utcnow,
)
from space.errors import ConvnasError

Goal = Literal["max", "min"]

# Leaderboard sort keys: metric name -> (column, natural direction).
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
# Objective metric names of a spec -> the trial column holding them.
OBJECTIVE_COLUMNS = {"val_acc": "best_val_acc", "params": "n_params", "flops": "flops"}
# Metric columns of trial_metrics; any other reported key goes to ``extra``.
METRIC_FIELDS = ("train_loss", "val_loss", "val_acc", "images_per_sec", "elapsed")
# Keys of a Ray Tune result that are Tune's bookkeeping, not the trainable's metrics (Tune adds
# them to every result: the trial's whole config, its tag, timings, host...). Stored per epoch
# they made ``extra`` many times larger than the metrics; the trial row already holds the arch,
# its hash and the node. Everything else a trainable reports is kept.
NOT_METRICS = frozenset(
    {
        "config", "trial_id", "experiment_tag", "experiment_id", "timestamp", "date",
        "time_this_iter_s", "time_total_s", "time_since_restore", "iterations_since_restore",
        "timesteps_total", "timesteps_since_restore", "episodes_total", "training_iteration",
        "pid", "hostname", "node_ip", "done", "should_checkpoint", "checkpoint_dir_name",
        "trial_resources", "epoch", "arch_hash", "val_acc_per_step",
        "preprocessing",  # stored once, on the trial row
    }
)  # fmt: skip


class NotFoundError(ConvnasError):
    """A search or trial that does not exist (the message names what was asked for)."""


class RecordError(ConvnasError):
    """A request that the records cannot satisfy (bad sort key, bad status, ...)."""


@dataclass(frozen=True)
class Objective:
    metric: str
    goal: Goal

    @property
    def column(self) -> str:
        return OBJECTIVE_COLUMNS[self.metric]


@dataclass
class SearchSummary:
    search: Search
    counts: dict[str, int] = field(default_factory=dict)
    best_val_acc: float | None = None

    @property
    def finished(self) -> int:
        return sum(self.counts.get(s, 0) for s in FINISHED_TRIAL_STATUSES)

    @property
    def running(self) -> int:
        return self.counts.get("running", 0)

    @property
    def failed(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("failed", "diverged", "out_of_memory"))


# --------------------------------------------------------------------------------------------
# Searches
# --------------------------------------------------------------------------------------------


def create_search(
    session: Session,
    *,
    name: str,
    spec: dict[str, Any],
    requested_trials: int,
    ray_address: str | None = None,
) -> Search:
    # A fresh uuid, not the row id: SQLite may reuse the id of a deleted search, and its Optuna
    # study (same database) would then be silently continued.
    search = Search(
        name=name,
        spec=clean_json(spec),
        status="queued",
        requested_trials=requested_trials,
        study_name=f"convnas-{uuid.uuid4().hex[:16]}",
        ray_address=ray_address,
        cancel_requested=False,
    )
    session.add(search)
    session.flush()
    return search


def resolve_search(session: Session, ref: str | int) -> Search:
    """A search by id, or by name (the most recent one of that name)."""
    text = str(ref).strip()
    if text.isdigit():
        found = session.get(Search, int(text))
        if found is None:
            raise NotFoundError(f"no search with id {text}")
        return found
    latest = session.scalars(
        select(Search).where(Search.name == text).order_by(Search.id.desc()).limit(1)
    ).first()
    if latest is None:
        raise NotFoundError(f"no search with id or name {text!r}")
    return latest


def trial_counts(session: Session, search_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Trial.status, func.count())
        .where(Trial.search_id == search_id)
        .group_by(Trial.status)
    ).all()
    return {status: int(n) for status, n in rows}


def finished_count(session: Session, search_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Trial)
            .where(Trial.search_id == search_id, Trial.status.in_(FINISHED_TRIAL_STATUSES))
        )
        or 0
    )


def list_searches(session: Session, limit: int | None = None) -> list[SearchSummary]:
    """Every search, newest first, with trial counts by status and the best accuracy."""
    query = select(Search).order_by(Search.id.desc())
    if limit:
        query = query.limit(limit)
    searches = list(session.scalars(query))
    if not searches:
        return []
    ids = [s.id for s in searches]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    for search_id, status, n in session.execute(
        select(Trial.search_id, Trial.status, func.count())
        .where(Trial.search_id.in_(ids))
        .group_by(Trial.search_id, Trial.status)
    ):
        counts[search_id][status] = int(n)
    best = dict(
        session.execute(
            select(Trial.search_id, func.max(Trial.best_val_acc))
            .where(Trial.search_id.in_(ids), Trial.status == "completed")
            .group_by(Trial.search_id)
        ).all()
    )
    return [SearchSummary(s, counts[s.id], best.get(s.id)) for s in searches]


def request_cancel(session: Session, search: Search) -> str:
    """Ask the driver of a running search to stop; stop a search nobody drives at once."""
    if search.status in ("succeeded", "failed", "cancelled"):
        return f"search {search.id} already {search.status}"
    if search.status == "running":
        search.cancel_requested = True
        return f"search {search.id}: cancel requested; the driver stops its trials shortly"
    # queued or interrupted: no driver is polling, so the search ends here.
    search.status = "cancelled"
    search.cancel_requested = True
    search.finished_at = utcnow()
    return f"search {search.id} cancelled"


# --------------------------------------------------------------------------------------------
# Trials: the driver's state transitions
# --------------------------------------------------------------------------------------------


def get_trial(session: Session, search_id: int, number: int) -> Trial:
    trial = session.scalars(
        select(Trial).where(Trial.search_id == search_id, Trial.number == number)
    ).first()
    if trial is None:
        raise NotFoundError(f"search {search_id} has no trial number {number}")
    return trial


def find_trained(session: Session, search_id: int, config_hash: str) -> Trial | None:
    """The earliest trial of this config that trained (or is training) in this search."""
    return session.scalars(
        select(Trial)
        .where(
            Trial.search_id == search_id,
            Trial.config_hash == config_hash,
            Trial.status.not_in(("duplicate", "rejected", "interrupted", "cancelled")),
        )
        .order_by(Trial.number)
        .limit(1)
    ).first()


def record_epoch(session: Session, trial: Trial, epoch: int, result: dict[str, Any]) -> None:
    """Store one epoch's metrics (replacing a row already recorded for that epoch)."""
    values = {name: finite(result.get(name)) for name in METRIC_FIELDS}
    per_step = result.get("val_acc_per_step")
    extra = {
        k: v
        for k, v in result.items()
        if k not in METRIC_FIELDS and k not in NOT_METRICS and _is_plain(v)
    }
    row = session.scalars(
        select(TrialMetric).where(TrialMetric.trial_id == trial.id, TrialMetric.epoch == epoch)
    ).first()
    if row is None:
        row = TrialMetric(trial_id=trial.id, epoch=epoch)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.val_acc_per_step = clean_json(list(per_step)) if per_step is not None else None
    row.extra = clean_json(extra)
    row.recorded_at = utcnow()
    acc = values["val_acc"]
    if epoch >= trial.epochs:  # a replayed older epoch must not overwrite the latest
        trial.epochs = epoch
        trial.last_val_acc = acc
        if values["elapsed"] is not None:
            trial.train_seconds = values["elapsed"]
    if acc is not None and (trial.best_val_acc is None or acc > trial.best_val_acc):
        trial.best_val_acc = acc
    trial.heartbeat_at = utcnow()


def _is_plain(value: Any) -> bool:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def mark_interrupted(session: Session, search_id: int) -> int:
    """Trials left ``running`` by a dead driver become ``interrupted``; returns how many."""
    result = session.execute(
        update(Trial)
        .where(Trial.search_id == search_id, Trial.status == "running")
        .values(status="interrupted", finished_at=utcnow(), error="the driver stopped")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# Leaderboard
# --------------------------------------------------------------------------------------------


def parse_sort(sort: str) -> tuple[Any, Goal, str]:
    """``val_acc`` (natural direction), ``+params`` (ascending) or ``-params`` (descending)."""
    key = sort.strip()
    direction: Goal | None = None
    if key[:1] in "+-" and key:
        direction = "min" if key[0] == "+" else "max"
        key = key[1:]
    if key not in SORT_COLUMNS:
        raise RecordError(
            f"--sort: unknown metric {sort!r}; choose one of {', '.join(SORT_COLUMNS)} "
            "(prefix + or - to force ascending or descending)"
        )
    column, natural = SORT_COLUMNS[key]
    return column, direction or natural, key


def parse_statuses(status: str | None) -> tuple[str, ...] | None:
    """``completed`` (default), a comma list, or ``all`` (None: no filter)."""
    if status is None:
        return ("completed",)
    if status.strip() == "all":
        return None
    wanted = tuple(s.strip() for s in status.split(",") if s.strip())
    bad = [s for s in wanted if s not in TRIAL_STATUSES]
    if bad or not wanted:
        raise RecordError(
            f"--status: unknown status {', '.join(bad) or repr(status)}; "
            f"choose from {', '.join(TRIAL_STATUSES)} or all"
        )
    return wanted


def leaderboard_query(
    search_id: int,
    *,
    sort: str = "val_acc",
    top: int | None = None,
    status: str | None = None,
    pareto: bool = False,
) -> Select[Trial]:
    """Trials of one search ordered by ``sort``.

    By default (completed trials) those without the metric are left out, so the filters match
    the (search_id, status, metric) indexes and a page of the best trials is an index range scan
    even with 100k trials in the search. An explicit ``status`` lists trials without the metric
    (failed ones, say) last.
    """
    column, goal, _ = parse_sort(sort)
    statuses = parse_statuses(status)
    query = select(Trial).where(Trial.search_id == search_id)
    if status is None:
        query = query.where(column.is_not(None))
    if statuses is not None:
        query = query.where(
            Trial.status == statuses[0] if len(statuses) == 1 else Trial.status.in_(statuses)
        )
    if pareto:
        query = query.where(Trial.pareto.is_(True))
    order = column.desc() if goal == "max" else column.asc()
    if status is not None:
        order = order.nulls_last()
    query = query.order_by(order, Trial.number.asc())
    if top is not None:
        if top < 1:
            raise RecordError(f"--top must be at least 1 (got {top})")
        query = query.limit(top)
    return query


def leaderboard(
    session: Session,
    search_id: int,
    *,
    sort: str = "val_acc",
    top: int | None = None,
    status: str | None = None,
    pareto: bool = False,
) -> list[Trial]:
    query = leaderboard_query(search_id, sort=sort, top=top, status=status, pareto=pareto)
    return list(session.scalars(query))


def best_trial(session: Session, search: Search, objectives: Sequence[Objective]) -> Trial:
    """The best completed trial by the first objective (among Pareto trials when several)."""
    first = objectives[0] if objectives else Objective("val_acc", "max")
    sort = ("-" if first.goal == "max" else "+") + _sort_key_of(first.metric)
    rows = leaderboard(session, search.id, sort=sort, top=1, pareto=len(objectives) > 1)
    if not rows:
        raise NotFoundError(f"search {search.id} ({search.name}) has no completed trial yet")
    return rows[0]


def _sort_key_of(metric: str) -> str:
    return metric if metric in SORT_COLUMNS else "val_acc"


# --------------------------------------------------------------------------------------------
# Pareto front
# --------------------------------------------------------------------------------------------


def dominates(a: Sequence[float], b: Sequence[float], goals: Sequence[Goal]) -> bool:
    """``a`` is at least as good as ``b`` in every objective and better in one."""
    better = False
    for x, y, goal in zip(a, b, goals, strict=True):
        if goal == "min":
            x, y = -x, -y
        if x < y:
            return False
        if x > y:
            better = True
    return better


def pareto_mask(points: Sequence[Sequence[float]], goals: Sequence[Goal]) -> list[bool]:
    """True for every point no other point dominates (ties on all objectives all stay)."""
    # Sort so that a dominator always comes before what it dominates; then each point is checked
    # only against the front found so far (the front is small in practice).
    signs = [1.0 if g == "max" else -1.0 for g in goals]

    def goodness_desc(i: int) -> tuple[float, ...]:
        return tuple(-s * v for s, v in zip(signs, points[i], strict=True))

    order = sorted(range(len(points)), key=goodness_desc)
    front: list[int] = []
    mask = [False] * len(points)
    for i in order:
        if not any(dominates(points[j], points[i], goals) for j in front):
            front.append(i)
            mask[i] = True
    return mask


def objective_values(trial: Trial, objectives: Sequence[Objective]) -> list[float] | None:
    values = [getattr(trial, o.column) for o in objectives]
    if any(v is None for v in values):
        return None
    return [float(v) for v in values]


def update_pareto(session: Session, search_id: int, objectives: Sequence[Objective]) -> int:
    """Recompute the Pareto flags of a search's completed trials; returns the front's size.

    With one objective the front is the optimum: every completed trial with the best value.
    """
    if not objectives:
        return 0
    columns = [getattr(Trial, o.column) for o in objectives]
    rows = session.execute(
        select(Trial.id, Trial.pareto, *columns).where(
            Trial.search_id == search_id,
            Trial.status == "completed",
            and_(*(c.is_not(None) for c in columns)),
        )
    ).all()
    points = [[float(v) for v in row[2:]] for row in rows]
    mask = pareto_mask(points, [o.goal for o in objectives])
    wanted = {row[0] for row, on in zip(rows, mask, strict=True) if on}
    changed = [row[0] for row in rows if bool(row[1]) != (row[0] in wanted)]
    if changed:
        for trial_id in changed:
            session.execute(
                update(Trial).where(Trial.id == trial_id).values(pareto=trial_id in wanted)
            )
    # Trials that left the completed set (never, today) must not keep a stale flag.
    session.execute(
        update(Trial)
        .where(Trial.search_id == search_id, Trial.status != "completed", Trial.pareto.is_(True))
        .values(pareto=False)
    )
    return len(wanted)


def add_to_pareto(session: Session, trial: Trial, objectives: Sequence[Objective]) -> bool:
    """Flag one newly completed trial against the current front (no full recompute).

    Exact: a point dominated by anything is dominated by a front member (dominance is
    transitive), so comparing with the front alone decides; front members the new point
    dominates lose their flag. Returns whether the trial is on the front. One objective: the
    front is the set of trials tied for the best value.
    """
    if not objectives:
        return False
    point = objective_values(trial, objectives)
    if point is None or trial.status != "completed":
        return False
    goals = [o.goal for o in objectives]
    front = session.scalars(
        select(Trial).where(
            Trial.search_id == trial.search_id, Trial.pareto.is_(True), Trial.id != trial.id
        )
    ).all()
    for other in front:
        values = objective_values(other, objectives)
        if values is not None and dominates(values, point, goals):
            trial.pareto = False
            return False
    for other in front:
        values = objective_values(other, objectives)
        if values is None or dominates(point, values, goals):
            other.pareto = False
    trial.pareto = True
    return True


def heartbeat(session: Session, search: Search, when: datetime | None = None) -> None:
    search.heartbeat_at = when or utcnow()

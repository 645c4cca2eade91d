"""Queries and record updates over searches, trials and trial metrics.

Read side: resolve a search by id or name, trial counts (leaderboards are in
:mod:`search.records.leaderboard`, Pareto flags in :mod:`search.records.pareto`). Write side: the
small set of state transitions the driver performs (trial proposed, epoch reported, trial finished),
each idempotent so that nothing is recorded twice when an event is replayed after a crash.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from search.errors import NotFound
from search.records.db import Search, Trial, TrialMetric, clean_json, finite, utcnow
from space import trial_fields
from space.status import FINISHED_TRIAL, SearchStatus, TrialStatus

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
    # Reported documents (the neural fit table) are kept on the trial row (trial_rows.RUN_FACTS).
    | {f.name for f in trial_fields.REPORTED if f.kind == "table"}
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Searches
# --------------------------------------------------------------------------------------------


def insert_search(
    session: Session,
    *,
    name: str,
    spec: dict[str, Any],
    requested_trials: int,
    ray_address: str | None = None,
    data_roots: list[str] | None = None,
) -> Search:
    # A fresh uuid, not the row id: SQLite may reuse the id of a deleted search, and its Optuna
    # study (same database) would then be silently continued.
    search = Search(
        name=name,
        spec=clean_json(spec),
        status=SearchStatus.QUEUED,
        requested_trials=requested_trials,
        study_name=f"convnas-{uuid.uuid4().hex[:16]}",
        ray_address=ray_address,
        cancel_requested=False,
    )
    if data_roots is not None:  # only then: a local search's insert names no new column
        search.data_roots = data_roots
    session.add(search)
    session.flush()
    return search


def resolve_search(session: Session, ref: str | int) -> Search:
    """A search by id, or by name (the most recent one of that name)."""
    text = str(ref).strip()
    if text.isdigit():
        found = session.get(Search, int(text))
        if found is None:
            raise NotFound(f"no search with id {text}")
        return found
    latest = session.scalars(
        select(Search).where(Search.name == text).order_by(Search.id.desc()).limit(1)
    ).first()
    if latest is None:
        raise NotFound(f"no search with id or name {text!r}")
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
            .where(Trial.search_id == search_id, Trial.status.in_(FINISHED_TRIAL))
        )
        or 0
    )


def request_cancel(session: Session, search: Search) -> str:
    """Ask the driver of a running search to stop; stop a search nobody drives at once."""
    if search.status in (SearchStatus.SUCCEEDED, SearchStatus.FAILED, SearchStatus.CANCELLED):
        return f"search {search.id} already {search.status}"
    if search.status == SearchStatus.RUNNING:
        search.cancel_requested = True
        return f"search {search.id}: cancel requested; the driver stops its trials shortly"
    # queued or interrupted: no driver is polling, so the search ends here.
    search.status = SearchStatus.CANCELLED
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
        raise NotFound(f"search {search_id} has no trial number {number}")
    return trial


_NOT_TRAINED = (
    TrialStatus.DUPLICATE,
    TrialStatus.REJECTED,
    TrialStatus.INTERRUPTED,
    TrialStatus.CANCELLED,
)


def find_trained(session: Session, search_id: int, config_hash: str) -> Trial | None:
    """The earliest trial of this config that trained (or is training) in this search."""
    return session.scalars(
        select(Trial)
        .where(
            Trial.search_id == search_id,
            Trial.config_hash == config_hash,
            Trial.status.not_in(_NOT_TRAINED),
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
        .where(Trial.search_id == search_id, Trial.status == TrialStatus.RUNNING)
        .values(status=TrialStatus.INTERRUPTED, finished_at=utcnow(), error="the driver stopped")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

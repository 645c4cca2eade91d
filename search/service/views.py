"""Records -> public schema: how a search, a trial and an epoch look to every way in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from search.errors import StorageUnavailable
from search.records.db import Search, Trial, decode_cells, utcnow
from search.records.leaderboard import objectives_of
from search.records.lifecycle import driver_is_alive
from search.records.pareto import objective_column
from search.records.storage import find_weights
from search.service.schemas import EpochOut, ObjectiveOut, SearchOut, TrialDetail, TrialOut
from space.status import FAILED_TRIAL, FINISHED_TRIAL, SearchStatus, TrialStatus
from space.trial_fields import OBJECTIVES, field

# The best value of each objective metric, both ways (a search's spec picks the goal).
_BEST = {
    (metric, goal): (func.max if goal == "max" else func.min)(
        getattr(Trial, objective_column(metric))
    )
    for metric in OBJECTIVES
    for goal in ("max", "min")
}


def search_outs(session: Session, searches: Sequence[Search]) -> list[SearchOut]:
    """The public view of several searches with two grouped queries (counts, best values)."""
    ids = [s.id for s in searches]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    for search_id, status, n in session.execute(
        select(Trial.search_id, Trial.status, func.count())
        .where(Trial.search_id.in_(ids))
        .group_by(Trial.search_id, Trial.status)
        .order_by(Trial.search_id, Trial.status)  # a stable order in every output
    ):
        counts[search_id][status] = int(n)
    keys = list(_BEST)
    best = {
        row[0]: dict(zip(keys, row[1:], strict=True))
        for row in session.execute(
            select(Trial.search_id, *_BEST.values())
            .where(Trial.search_id.in_(ids), Trial.status == TrialStatus.COMPLETED)
            .group_by(Trial.search_id)
        )
    }
    return [_search_out(s, counts[s.id], best.get(s.id, {})) for s in searches]


def search_out(session: Session, search: Search) -> SearchOut:
    return search_outs(session, [search])[0]


def _search_out(
    search: Search, counts: dict[str, int], best: dict[tuple[str, str], Any]
) -> SearchOut:
    objectives = objectives_of(search.spec)
    status = SearchStatus(search.status)
    beat = search.heartbeat_at
    return SearchOut(
        id=search.id,
        name=search.name,
        status=status,
        driver_lost=status == SearchStatus.RUNNING and not driver_is_alive(search),
        cancel_requested=bool(search.cancel_requested),
        requested=search.requested_trials,
        finished=sum(counts.get(s, 0) for s in FINISHED_TRIAL),
        running=counts.get(TrialStatus.RUNNING, 0),
        failed=sum(counts.get(s, 0) for s in FAILED_TRIAL),
        counts=counts,
        objectives=[ObjectiveOut(metric=o.metric, goal=o.direction) for o in objectives],
        val_acc=best.get(("val_acc", "max")),
        best=[_number(best.get((o.metric, o.direction))) for o in objectives],
        created_at=search.created_at,
        started_at=search.started_at,
        finished_at=search.finished_at,
        runner=search.runner,
        heartbeat_age=round((utcnow() - beat).total_seconds(), 1) if beat else None,
        reason=search.error,
        note=search.note,
        recoveries=search.recoveries or [],
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


# How a column's value becomes its public field's, by the field's kind (default: as stored).
_PUBLIC: dict[str, Callable[[Any], Any]] = {"flag": bool, "cells": decode_cells}


def _public(trial: Trial, name: str) -> Any:
    found = field(name)
    value = getattr(trial, found.stored)
    return _PUBLIC[found.kind](value) if found.kind in _PUBLIC else value


def _row_fields(trial: Trial, rank: int | None) -> dict[str, Any]:
    """The TrialOut fields of a trial row (the table of fields says which column is which)."""
    fields = {name: _public(trial, name) for name in TrialOut.model_fields if name != "rank"}
    fields["sampled"] = fields["sampled"] or {}
    return {"rank": rank, **fields}


def trial_out(trial: Trial, rank: int) -> TrialOut:
    return TrialOut(**_row_fields(trial, rank))


def _has_weights(checkpoint: str | None) -> bool:
    """Whether the trial kept weights; a store that does not answer reads as none, so that the
    trial's record still shows (the download itself answers 503)."""
    try:
        return find_weights(checkpoint) is not None
    except StorageUnavailable:
        return False


def trial_detail(trial: Trial, rank: int | None) -> TrialDetail:
    fields = {**_row_fields(trial, rank), "neural": _public(trial, "neural")}
    for name in ("search_id", "arch", "preprocessing", "started_at", "finished_at", "note"):
        fields[name] = getattr(trial, name)
    fields["has_weights"] = _has_weights(trial.checkpoint)
    fields["history"] = [EpochOut.model_validate(m) for m in trial.metrics]
    fields["attempts"] = trial.attempts or []
    return TrialDetail.model_validate(fields)

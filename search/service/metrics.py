"""What a monitoring system scrapes (``GET /metrics``, issue 20): the searches and trials by
status, the queue, the running searches' trials and their runners' heartbeats, and how long
finished trials trained. The web layer renders it in Prometheus's text format.

Bounded whatever the database holds: a fixed number of aggregate queries, per-search series
only for searches running now (a lab's history of thousands of searches adds no series), and
trial durations as fixed histogram buckets counted in one pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from search.records.db import Search, Trial, read_scope
from search.service.health import RunnerOut, runner_processes, running
from space.status import SearchStatus, TrialStatus

# Seconds: a short CPU trial takes a few, a GPU trial of the paper space an hour or more.
DURATION_BUCKETS: tuple[float, ...] = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


class SearchTrials(BaseModel):
    """A running search's trials by status."""

    model_config = ConfigDict(frozen=True)

    search_id: int
    name: str
    requested: int
    trials: dict[str, int]


class Durations(BaseModel):
    """Training seconds of finished trials: cumulative counts at each bucket's upper bound."""

    model_config = ConfigDict(frozen=True)

    buckets: list[tuple[float, int]]
    count: int
    total: float


class MetricsOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    searches: dict[str, int] = Field(description="Searches by status (every status listed)")
    trials: dict[str, int] = Field(description="Trials by status, all searches")
    running: list[SearchTrials] = Field(description="Each running search's trials by status")
    runners: list[RunnerOut]
    runner_states: dict[str, int] = Field(
        description="Runner processes that reported in the last minutes, by state"
    )
    durations: Durations


def metrics(engine: Engine) -> MetricsOut:
    """The numbers of one scrape."""
    with read_scope(engine) as s:
        searches = dict(
            s.execute(select(Search.status, func.count()).group_by(Search.status)).all()
        )
        trials = dict(s.execute(select(Trial.status, func.count()).group_by(Trial.status)).all())
        live = s.execute(
            select(Search.id, Search.name, Search.requested_trials, Trial.status, func.count())
            .outerjoin(Trial, Trial.search_id == Search.id)
            .where(Search.status == SearchStatus.RUNNING)
            .group_by(Search.id, Search.name, Search.requested_trials, Trial.status)
            .order_by(Search.id)
        ).all()
        durations = _durations(s)
    return MetricsOut(
        searches={status.value: searches.get(status.value, 0) for status in SearchStatus},
        trials={status.value: trials.get(status.value, 0) for status in TrialStatus},
        running=_per_search(live),
        runners=running(engine),
        runner_states=dict(Counter(p.state for p in runner_processes(engine))),
        durations=durations,
    )


def _by_status(session: Session, column: Any) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).group_by(column)).all()
    return {str(status): int(count) for status, count in rows}


def _per_search(rows: Sequence[Any]) -> list[SearchTrials]:
    """(search id, name, requested, trial status or None, count) rows, by search."""
    found: dict[int, SearchTrials] = {}
    for search_id, name, requested, status, count in rows:
        entry = found.get(search_id) or SearchTrials(
            search_id=search_id, name=name, requested=requested, trials={}
        )
        counts = {**entry.trials, **({status: count} if status else {})}
        found[search_id] = entry.model_copy(update={"trials": counts})
    return list(found.values())


def _durations(session: Session) -> Durations:
    seconds = Trial.train_seconds
    done = Trial.finished_at.is_not(None) & seconds.is_not(None)
    columns = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
    query = select(func.count(), func.coalesce(func.sum(seconds), 0.0), *columns).where(done)
    count, total, *cumulative = session.execute(query).one()
    return Durations(
        buckets=[(b, int(c or 0)) for b, c in zip(DURATION_BUCKETS, cumulative, strict=True)],
        count=int(count),
        total=float(total),
    )

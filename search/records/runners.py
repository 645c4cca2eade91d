"""The runners' own records: each ``convnas runner`` writes what it is doing (``driving``,
``waiting`` for its Ray cluster, ``stopping``...) with a heartbeat, so /health and /metrics can
say why nothing runs. Rows of runners gone for :data:`FORGET_AFTER` are removed as runners start.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, delete, select

from search.records.db import RunnerRecord, read_scope, session_scope, utcnow

# A runner beats every few seconds while it lives; one silent this long is shown as gone.
SHOWN_FOR = timedelta(minutes=10)
FORGET_AFTER = timedelta(days=7)


def report_runner(
    engine: Engine, runner: str, state: str, detail: str | None, searches: list[int]
) -> None:
    """Record what ``runner`` is doing now (its heartbeat too)."""
    with session_scope(engine) as s:
        row = s.get(RunnerRecord, runner)
        if row is None:
            row = RunnerRecord(id=runner, started_at=utcnow())
            s.add(row)
        row.state, row.detail, row.searches = state, detail[:2000] if detail else None, searches
        row.heartbeat_at = utcnow()


def forget_old_runners(engine: Engine) -> int:
    """Remove the records of runners silent for :data:`FORGET_AFTER`; returns how many."""
    with session_scope(engine) as s:
        gone = delete(RunnerRecord).where(RunnerRecord.heartbeat_at < utcnow() - FORGET_AFTER)
        return int(s.execute(gone).rowcount or 0)  # type: ignore[attr-defined]


def recent_runners(engine: Engine) -> list[RunnerRecord]:
    """The runners that beat within :data:`SHOWN_FOR`, by id."""
    query = (
        select(RunnerRecord)
        .where(RunnerRecord.heartbeat_at >= utcnow() - SHOWN_FOR)
        .order_by(RunnerRecord.id)
    )
    with read_scope(engine) as s:
        rows = list(s.scalars(query))
        s.expunge_all()
        return rows

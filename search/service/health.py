"""Whether the service can do its job: the database answers, its schema is current, and which
runners drive searches now (with the age of each one's heartbeat)."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import SQLAlchemyError

from search.records.db import Search, read_scope, utcnow
from search.records.lifecycle import STALE_AFTER, driver_is_alive
from search.records.migrations import current_revision, head_revision
from search.records.runners import recent_runners
from space.status import SearchStatus

log = logging.getLogger("convnas.health")


class RunnerOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    runner: str | None = Field(description="host:pid of the process driving the search")
    search_id: int
    heartbeat_age: float | None = Field(description="Seconds since its last heartbeat")
    alive: bool = Field(
        description=f"Heartbeat under {STALE_AFTER.seconds} s old (and, on this host, its "
        "process exists)"
    )


class RunnerProcessOut(BaseModel):
    """A ``convnas runner`` process seen in the last minutes, and what it is doing."""

    model_config = ConfigDict(frozen=True)

    runner: str = Field(description="host:pid")
    state: str = Field(
        description="ready (nothing to claim), driving, waiting (it cannot drive a search now: "
        "detail says why, e.g. its Ray cluster is unreachable) or stopped"
    )
    detail: str | None
    searches: list[int] = Field(description="The searches it drives now")
    heartbeat_age: float = Field(description="Seconds since it last reported")


class HealthOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool = Field(description="The database answers and its schema is current")
    database: Literal["ok", "error"]
    migrations: Literal["current", "behind", "unknown"] = Field(
        description="unknown when the database cannot be read"
    )
    revision: str | None = Field(description="The database's schema revision")
    head: str = Field(description="The revision this code expects")
    runners: list[RunnerOut] = Field(description="Running searches and their runners")
    runner_processes: list[RunnerProcessOut] = Field(
        default_factory=list, description="Runner processes that reported in the last minutes"
    )
    detail: str | None = Field(default=None, description="Why the database is not ok")


def unreachable(exc: Exception) -> HealthOut:
    """The report when the database cannot be read (bad URL, server down). The driver's text
    names hosts, ports and database names: it goes to the server log, the report names only the
    kind of error (health is open to anyone who can reach the server)."""
    reason = str(exc).splitlines()[0] if str(exc) else ""
    log.warning("health: the database is unavailable: %s: %s", type(exc).__name__, reason)
    return HealthOut(
        ok=False,
        database="error",
        migrations="unknown",
        revision=None,
        head=head_revision(),
        runners=[],
        detail=f"the database is unavailable ({type(exc).__name__}); the server log has why",
    )


def health(engine: Engine) -> HealthOut:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = current_revision(engine)
        runners = running(engine)
        head = head_revision()
        current = revision == head
        processes = runner_processes(engine) if current else []  # its table may not exist yet
    except (SQLAlchemyError, OSError) as exc:
        return unreachable(exc)
    return HealthOut(
        ok=current,
        database="ok",
        migrations="current" if current else "behind",
        revision=revision,
        head=head,
        runners=runners,
        runner_processes=processes,
    )


def runner_processes(engine: Engine) -> list[RunnerProcessOut]:
    now = utcnow()
    return [
        RunnerProcessOut(
            runner=row.id,
            state=row.state,
            detail=row.detail,
            searches=[int(i) for i in row.searches or []],
            heartbeat_age=round((now - row.heartbeat_at).total_seconds(), 1),
        )
        for row in recent_runners(engine)
    ]


def running(engine: Engine) -> list[RunnerOut]:
    query = select(Search).where(Search.status == SearchStatus.RUNNING).order_by(Search.id)
    now = utcnow()
    with read_scope(engine) as s:
        return [
            RunnerOut(
                runner=search.runner,
                search_id=search.id,
                heartbeat_age=(
                    round((now - search.heartbeat_at).total_seconds(), 1)
                    if search.heartbeat_at
                    else None
                ),
                alive=driver_is_alive(search),
            )
            for search in s.scalars(query)
        ]

"""A search's life as records: create (queued), claim (running, for one runner), heartbeat,
finalize, and whether its driver is still alive. No Ray, Optuna or torch here: the service layer
and a runner's queue loop use it without loading the training stack.

Claims are atomic. Each one reads and writes the search's row in one transaction that holds the
row: ``SELECT ... FOR UPDATE`` on PostgreSQL (``SKIP LOCKED`` to find the next queued search, so
runners never wait on each other), a ``BEGIN IMMEDIATE`` write transaction on SQLite (see
``search.records.db``); the update itself is conditional on the state read (``WHERE status =
...``) and its row count checked, so two runners can never both take one search.

A runner is named ``host:pid`` (:func:`runner_id`); a search is driven by the runner recorded on
its row while that runner keeps refreshing ``heartbeat_at``. A runner takes over a running search
whose runner went quiet for ``STALE_AFTER`` (or, on the same host, whose process is gone) with
:func:`claim_stale`, and puts a search it stops back in the queue with :func:`requeue`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from search.errors import Conflict, NotFound
from search.records import repository as repo
from search.records.db import Search, check_writable, read_scope, session_scope, utcnow
from space.errors import ConvnasError
from space.spec import SearchSpec, spec_from_data
from space.status import SEARCH_ENDED, SearchStatus

# How often a driver refreshes its search's heartbeat, and after how long without one a running
# search counts as having lost its driver (kill -9, power loss): STALE_AFTER is twelve beats.
HEARTBEAT_SECONDS = 5.0
STALE_AFTER = timedelta(seconds=60)
# Times a search goes back to the queue after its driver lost the cluster before it fails: a
# head restart or two in a long search, not a search that can never run.
MAX_RECOVERIES = 3
# Searches a claim may (re)start: queued, or left behind by a driver that stopped.
CLAIMABLE = frozenset(
    {SearchStatus.QUEUED, SearchStatus.RUNNING, SearchStatus.FAILED, SearchStatus.INTERRUPTED}
)


class SearchStateError(Conflict):
    """A search that cannot be run or resumed in its current state (the message says why)."""


# Why the drivers in this process must stop (a runner's driver process got SIGTERM), or None.
# Process-wide on purpose: it is read by the Tune stopper of whichever search this process
# drives, through heartbeat() and stop_reason(), so the search stops at its next poll and is
# recorded as interrupted rather than killed half-way.
_stopping: str | None = None


def stop_drivers(reason: str) -> None:
    """Make every driver in this process stop at its next poll, recording ``reason``."""
    global _stopping
    _stopping = reason


def runner_id() -> str:
    """This process as a runner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def create_search(
    engine: Engine,
    spec: SearchSpec,
    ray_address: str | None = None,
    data_roots: Sequence[Path] | None = None,
) -> int:
    """Store a validated spec as a queued search; returns its id. ``data_roots``: the folders
    its files are confined to (None: unconfined, a local search).

    Raises ``search.records.db.DatabaseError`` (nothing written) when the database is read-only.
    """
    check_writable(engine)
    with session_scope(engine) as s:
        search = repo.insert_search(
            s,
            name=spec.name,
            spec=spec.model_dump(mode="json", by_alias=True, exclude_none=True),
            requested_trials=spec.search.trials,
            ray_address=ray_address,
            data_roots=None if data_roots is None else [str(root) for root in data_roots],
        )
        return search.id


def _runner_alive(runner: str | None) -> bool:
    """Whether the process named by ``runner`` still lives (only knowable on this host)."""
    if not runner or ":" not in runner:
        return True
    host, _, pid = runner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine: trust the heartbeat alone
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def driver_is_alive(search: Search) -> bool:
    """A running search whose runner's heartbeat is fresh (and, on this host, whose process
    exists)."""
    if search.status != SearchStatus.RUNNING:
        return False
    if search.heartbeat_at is None or utcnow() - search.heartbeat_at > STALE_AFTER:
        return False
    return _runner_alive(search.runner)


def _locked(session: Session, search_id: int) -> Search:
    """The search's row, held by this transaction until it ends (PostgreSQL: a row lock;
    SQLite: the transaction is already the only writer)."""
    search = session.scalars(select(Search).where(Search.id == search_id).with_for_update()).first()
    if search is None:
        raise NotFound(f"no search with id {search_id}")
    return search


def _refuse(search: Search, runner: str, force: bool) -> None:
    if search.status not in CLAIMABLE:
        raise SearchStateError(
            f"search {search.id} ({search.name}) is {search.status}; nothing to run"
        )
    if search.runner != runner and driver_is_alive(search) and not force:
        assert search.heartbeat_at is not None  # driver_is_alive checked it
        age = (utcnow() - search.heartbeat_at).total_seconds()
        raise SearchStateError(
            f"search {search.id} is being driven by {search.runner} (heartbeat {age:.0f}s "
            "ago); cancel it, or resume with force=true if that process is gone"
        )


def _take(session: Session, search: Search, runner: str) -> bool:
    """Mark ``search`` running for ``runner`` if it is still in the state read (row count):
    same status and, for a running search taken over, same runner and heartbeat."""
    now = utcnow()
    unchanged = [Search.id == search.id, Search.status == search.status]
    if search.status == SearchStatus.RUNNING:
        unchanged.append(Search.runner == search.runner)
        unchanged.append(
            Search.heartbeat_at.is_(None)
            if search.heartbeat_at is None
            else Search.heartbeat_at == search.heartbeat_at
        )
    result = session.execute(
        update(Search)
        .where(*unchanged)
        .values(
            status=SearchStatus.RUNNING,
            runner=runner,
            heartbeat_at=now,
            started_at=search.started_at or now,
            finished_at=None,
            cancel_requested=False,
            error=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def record_run_dir(engine: Engine, search_id: int, folder: str) -> None:
    """Record the search's folder (``search.records.storage.search_folder``: a path or URI)."""
    with session_scope(engine) as s:
        s.execute(update(Search).where(Search.id == search_id).values(run_dir=folder))


def claim(
    engine: Engine, search_id: int, *, runner: str | None = None, force: bool = False
) -> SearchSpec:
    """Mark the search running for ``runner`` (default: this process) and return its spec.

    Refused (:class:`SearchStateError`) for a succeeded or cancelled search, for one whose
    driver is another runner still alive (unless ``force``), and for one whose stored spec no
    longer validates (which then ends failed, saying why). Claiming a search this runner already
    holds (after :func:`claim_next` or :func:`claim_stale`) keeps it as it is, a cancel asked
    for in between included.
    """
    runner = runner or runner_id()
    check_writable(engine)
    with session_scope(engine) as s:
        search = _locked(s, search_id)
        _refuse(search, runner, force)
        held = search.status == SearchStatus.RUNNING and search.runner == runner
        try:
            spec = spec_from_data(search.spec, source=f"search {search.id}")
        except ConvnasError as exc:  # stored by an older version: it can never run as it is
            invalid = f"its stored spec does not validate: {exc}"
            search.status, search.error, search.finished_at = SearchStatus.FAILED, invalid, utcnow()
        else:
            if held:
                search.heartbeat_at = utcnow()
                return spec
            if not _take(s, search, runner):
                raise SearchStateError(f"search {search.id} was claimed by another runner just now")
            return spec
    raise SearchStateError(f"search {search_id} cannot run: {invalid}")


def claim_next(engine: Engine, runner: str) -> int | None:
    """Take the oldest queued search for ``runner``; None when the queue is empty.

    Each queued search is handed to exactly one caller, however many runners ask at once.
    Raises ``search.records.db.DatabaseError`` when the database is read-only.
    """
    check_writable(engine)
    while True:
        with session_scope(engine) as s:
            search = s.scalars(
                select(Search)
                .where(Search.status == SearchStatus.QUEUED)
                .order_by(Search.created_at, Search.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if search is None:
                return None
            if _take(s, search, runner):
                return search.id
        # Another runner took it between our read and our update (possible only where the
        # read takes no lock): look again.


def anything_to_claim(engine: Engine, runner: str, stale_after: timedelta = STALE_AFTER) -> bool:
    """Whether :func:`claim_next` or :func:`claim_stale` would find a search (read only: a
    runner checks that it can drive one before it takes one)."""
    with read_scope(engine) as s:
        queued = s.scalar(select(Search.id).where(Search.status == SearchStatus.QUEUED).limit(1))
        if queued is not None:
            return True
        others = s.scalars(
            select(Search).where(
                Search.status == SearchStatus.RUNNING, Search.runner.is_distinct_from(runner)
            )
        ).all()
        return any(is_stale(search, stale_after) for search in others)


def is_stale(search: Search, stale_after: timedelta = STALE_AFTER) -> bool:
    """A running search whose runner went quiet for ``stale_after``, or (on this host) whose
    runner's process is gone."""
    if search.status != SearchStatus.RUNNING:
        return False
    if search.heartbeat_at is None or utcnow() - search.heartbeat_at > stale_after:
        return True
    return not _runner_alive(search.runner)


def claim_stale(
    engine: Engine, runner: str, stale_after: timedelta = STALE_AFTER
) -> tuple[int, str | None] | None:
    """Take over the running search whose runner went quiet longest ago (:func:`is_stale`);
    returns its id and the runner it was taken from, or None when every runner is alive.

    The search is then run exactly as ``convnas search resume`` runs it (the ledger marks the
    trials the dead driver left running as interrupted). A stale search whose cancel was
    requested is not taken: it ends cancelled, as its dead driver would have ended it. Candidates
    are read without a lock (live drivers' heartbeats never wait on it); each stale one is then
    locked (``SKIP LOCKED`` on PostgreSQL: another runner is on it), checked again, and taken
    with an update conditional on the runner and heartbeat read, so a driver that beats in
    between keeps its search.
    """
    check_writable(engine)
    with session_scope(engine) as s:
        others = s.scalars(
            select(Search)
            .where(Search.status == SearchStatus.RUNNING, Search.runner.is_distinct_from(runner))
            .order_by(Search.heartbeat_at.nulls_first(), Search.id)
        ).all()
        stale = [search.id for search in others if is_stale(search, stale_after)]
    for search_id in stale:
        with session_scope(engine) as s:
            search = s.scalars(
                select(Search).where(Search.id == search_id).with_for_update(skip_locked=True)
            ).first()
            if search is None or search.runner == runner or not is_stale(search, stale_after):
                continue
            previous = search.runner
            if search.cancel_requested:
                _end_cancelled(s, search)
            elif _take(s, search, runner):
                return search.id, previous
    return None


def _end_cancelled(session: Session, search: Search) -> None:
    now = utcnow()
    search.status, search.finished_at, search.updated_at = SearchStatus.CANCELLED, now, now
    search.error = search.error or f"cancelled; its runner {search.runner} had stopped"
    repo.mark_interrupted(session, search.id)


def requeue(engine: Engine, search_id: int, runner: str) -> bool:
    """Put a search ``runner`` stopped (interrupted, or still running when its driver was
    killed) back in the queue for the next runner, as ``convnas search resume`` queues one;
    trials left running become interrupted. Returns whether it was queued (False when the
    search is no longer ``runner``'s, or ended otherwise, e.g. cancelled)."""
    with session_scope(engine) as s:
        search = _locked(s, search_id)
        stopped = search.status in (SearchStatus.RUNNING, SearchStatus.INTERRUPTED)
        if search.runner != runner or not stopped or search.cancel_requested:
            return False
        repo.mark_interrupted(s, search_id)
        search.status, search.finished_at, search.updated_at = SearchStatus.QUEUED, None, utcnow()
        return True


def recover(
    engine: Engine, search_id: int, runner: str, reason: str, limit: int = MAX_RECOVERIES
) -> bool:
    """A search ``runner`` drove whose driver lost its Ray cluster (or died before recording
    an outcome): back in the queue with ``reason`` kept in its recoveries, to be resumed as soon
    as a runner can drive it again; after ``limit`` of them it fails instead. Trials left
    running become interrupted (their slots are spent again). Returns whether it was queued."""
    with session_scope(engine) as s:
        search = _locked(s, search_id)
        if search.status != SearchStatus.RUNNING or search.runner != runner:
            return False
        repo.mark_interrupted(s, search_id)
        now, past = utcnow(), list(search.recoveries or [])
        search.heartbeat_at, search.updated_at = now, now
        if search.cancel_requested or len(past) >= limit:
            ended = SearchStatus.CANCELLED if search.cancel_requested else SearchStatus.FAILED
            search.status, search.finished_at = ended, now
            search.error = f"{reason}; not queued again ({len(past)} recoveries, limit {limit})"
            return False
        search.recoveries = [*past, {"at": now.isoformat(), "reason": reason[:1000]}]
        search.status, search.finished_at = SearchStatus.QUEUED, None
        search.error = f"{reason}; queued again to resume (recovery {len(past) + 1} of {limit})"
        return True


def release(engine: Engine, search_id: int, runner: str, status: SearchStatus, note: str) -> bool:
    """End a search ``runner`` claimed but whose driver never recorded an outcome (it raised
    before it started, or its process died): ``status`` with ``note``, trials left running
    interrupted. Only while the search is still running for ``runner``; returns whether it
    was written."""
    with session_scope(engine) as s:
        search = _locked(s, search_id)
        if search.status != SearchStatus.RUNNING or search.runner != runner:
            return False
        repo.mark_interrupted(s, search_id)
        now = utcnow()
        search.status, search.error, search.heartbeat_at = status, note, now
        search.finished_at = None if status == SearchStatus.INTERRUPTED else now
        return True


def heartbeat(engine: Engine, search_id: int, runner: str) -> bool:
    """Refresh the search's heartbeat if ``runner`` still drives it.

    Returns False, and writes nothing, when the driver should stop: the search is no longer
    running for ``runner`` (another runner took it over with force, or it was finalized) or a
    cancel was requested, or this process was told to stop (:func:`stop_drivers`).
    """
    if _stopping is not None:
        return False
    with session_scope(engine) as s:
        result = s.execute(
            update(Search)
            .where(
                Search.id == search_id,
                Search.status == SearchStatus.RUNNING,
                Search.runner == runner,
                Search.cancel_requested.is_(False),
            )
            .values(heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def stop_reason(engine: Engine, search_id: int, runner: str) -> str | None:
    """Why the driver ``runner`` of this search should stop now, or None to go on."""
    if _stopping is not None:
        return _stopping
    with session_scope(engine) as s:
        search = s.get(Search, search_id)
        if search is None:
            return "the search was deleted"
        if search.cancel_requested:
            return "search cancelled"
        if search.status != SearchStatus.RUNNING or search.runner != runner:
            return f"search {search_id} is now {search.status}, driven by {search.runner}"
    return None


def finalize(
    engine: Engine,
    search_id: int,
    status: SearchStatus | str,
    note: str | None,
    *,
    runner: str | None = None,
) -> bool:
    """Record how the search ended (``note``: the reason, None when it succeeded).

    With ``runner``, only while that runner still holds the search; returns whether it was
    written. An interrupted search keeps no ``finished_at``: it is meant to be resumed.
    """
    status = SearchStatus(status)
    with session_scope(engine) as s:
        search = _locked(s, search_id)
        if runner is not None and search.runner != runner:
            return False
        search.status = status
        search.error = note
        ended = status in SEARCH_ENDED and status != SearchStatus.INTERRUPTED
        search.finished_at = utcnow() if ended else None
        search.heartbeat_at = utcnow()
        return True

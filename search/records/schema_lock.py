"""One process at a time creates or upgrades the schema of a database (ours and Optuna's).

Several runners started together on a fresh database would otherwise all create the same tables
at once: Optuna's ``RDBStorage`` checks for its tables, then creates them, then stamps its version
rows, with nothing in between to stop a second process (PostgreSQL: a UniqueViolation on
``CREATE TYPE studydirection``; SQLite: "table study_system_attributes already exists").

The lock: on PostgreSQL a session-level advisory lock on a connection of its own (released when
that connection closes, even if the process dies); on a SQLite file an exclusive ``flock`` on a
small lock file beside it (released by the kernel when the process dies). Whoever gets the lock
second finds the schema created and has nothing left to do. In-memory SQLite needs none.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from space.errors import ConvnasError

log = logging.getLogger(__name__)

# Any fixed 64-bit number other than search.records.migrations' (which nests inside this one).
PG_SCHEMA_LOCK_KEY = 0x636E61735F736368
# How long a process waits for another to finish creating the schema before giving up.
LOCK_TIMEOUT_SECONDS = 120
LOCK_SUFFIX = ".lock"


class SchemaLockTimeout(ConvnasError):
    """Another process held the schema lock for longer than :data:`LOCK_TIMEOUT_SECONDS`."""


def sqlite_lock_path(database: str) -> Path:
    """The lock file of a SQLite database file: ``convnas.db`` -> ``convnas.db.lock``."""
    return Path(database + LOCK_SUFFIX)


@contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Hold the database's schema lock for the duration of the block (see the module doc)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        with _postgres_lock(url):
            yield
    elif backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        with _file_lock(sqlite_lock_path(str(parsed.database)), url):
            yield
    else:
        yield


@contextmanager
def _postgres_lock(url: str) -> Iterator[None]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text(f"SET lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'"))
            try:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_SCHEMA_LOCK_KEY})
            except Exception as exc:
                if "lock timeout" in str(exc):
                    raise SchemaLockTimeout(_timeout_message(url)) from None
                raise
            conn.commit()  # end the implicit transaction; the session lock stays held
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_SCHEMA_LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()


@contextmanager
def _file_lock(path: Path, url: str) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        # A folder this process cannot write: it cannot create the schema either, and the
        # database's own error says so more precisely than a failed lock would.
        log.debug("no schema lock at %s (%s): going on without", path, exc)
        yield
        return
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SchemaLockTimeout(_timeout_message(url)) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the flock


def _timeout_message(url: str) -> str:
    shown = make_url(url).render_as_string(hide_password=True)
    return (
        f"cannot prepare {shown}: another process has been creating its schema for over "
        f"{LOCK_TIMEOUT_SECONDS}s; try again when it is done"
    )

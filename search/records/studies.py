"""The Optuna study of a search, stored in the convnas database itself (Optuna's tables sit
next to ours): opening that storage with our connection settings, and deleting a study with its
search. Optuna is imported here, never torch or Ray.
"""

from __future__ import annotations

from typing import Any

import optuna
from sqlalchemy import Engine

from search.records.db import SQLITE_BUSY_TIMEOUT_MS, connection_settings
from search.records.schema_lock import schema_lock


def rdb_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's storage on the convnas database itself (its tables sit next to ours).

    Its connections get the commit settings of ours (``search.records.db.connection_settings``:
    SQLite WAL with ``synchronous=NORMAL``, PostgreSQL ``synchronous_commit=off``), which keep every
    commit through a ``kill -9`` of the driver. Optuna's defaults flush every commit to disk, and
    define-by-run sampling commits once per suggested parameter.
    """
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    # Creating Optuna's tables is not safe against a second process doing it at the same time.
    with schema_lock(url):
        storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    connection_settings(storage.engine)
    # RDBStorage connected while checking its schema: reopen with the settings above.
    storage.engine.dispose()
    return storage


def engine_storage(engine: Engine) -> optuna.storages.RDBStorage:
    """:func:`rdb_storage` on the database behind ``engine``."""
    return rdb_storage(engine.url.render_as_string(hide_password=False))


def delete_study(engine: Engine, study_name: str) -> None:
    """Delete a search's study (nothing when it never started)."""
    storage = engine_storage(engine)
    try:
        optuna.delete_study(study_name=study_name, storage=storage)
    except KeyError:
        pass  # never started: Optuna has no study of that name
    finally:
        storage.engine.dispose()

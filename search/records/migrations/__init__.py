"""Alembic migrations of the convnas tables, run programmatically (no alembic.ini needed).

``upgrade(engine)`` is called whenever an engine is created, so a fresh or older database is
brought to the current schema before any query. The history has its own version table because
Optuna keeps its own Alembic history (``alembic_version``) in the same database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

VERSION_TABLE = "convnas_alembic_version"
_HERE = Path(__file__).resolve().parent
# Any fixed 64-bit number: serialises concurrent upgrades of one PostgreSQL database.
_PG_LOCK_KEY = 0x636F6E766E6173


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision`` (a no-op when already there)."""
    if revision == "head" and current_revision(engine) == head_revision():
        return
    config = alembic_config()
    with _migrating(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    config = alembic_config()
    with _migrating(engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """One transaction for the migrations. On SQLite, foreign keys are off meanwhile: a batch
    migration rebuilds a table by copy and drop, and the drop would otherwise cascade, deleting
    every trial of a rebuilt searches table. The pragma only works outside a transaction, hence
    on the driver's connection before SQLAlchemy begins one; the keys are checked before the
    commit and turned back on for the pooled connection."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                yield connection
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("a migration left rows that break a foreign key")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]

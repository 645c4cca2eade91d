"""Database fixtures: every storage test runs on SQLite and on the real PostgreSQL server.

PostgreSQL cases run when ``CONVNAS_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it and fails when
the server is unreachable); without it they skip with that reason. Each test gets its own schema
(``search_path`` in the URL), dropped afterwards, so parallel runs and reruns never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import search_helpers
from search_helpers import POSTGRES_ENV, postgres_base_url
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from search.records.db import create_db_engine


def _schema_url(base: str, schema: str) -> str:
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


class PostgresSchema:
    """A throwaway schema in the test database, reachable through its own URL."""

    def __init__(self, base: str):
        self.base = base
        self.schema = f"convnas_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        self.url = _schema_url(base, self.schema)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.admin.dispose()


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'convnas.db'}"
        return
    base = postgres_base_url()
    if base is None:
        pytest.skip(
            f"{POSTGRES_ENV} is not set: PostgreSQL cases skipped "
            "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    schema = PostgresSchema(base)
    try:
        yield schema.url
    finally:
        from search.records.db import dispose_engines

        dispose_engines()
        schema.drop()


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A local Ray runtime shared by a test module (its GCS address); the test helpers travel
    to the workers by value."""
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.cloudpickle.register_pickle_by_value(search_helpers)
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine on a fresh database of each backend."""
    eng = create_db_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()

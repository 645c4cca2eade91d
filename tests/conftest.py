"""Settings and fixtures every test folder shares.

Starlette's TestClient sends ``Host: testserver``; the app answers only to the names it is
reached by (loopback by default: DNS rebinding), so the tests name that host as a deployment
behind a proxy would name its own (Django's test runner does the same for ALLOWED_HOSTS).
Tests of the Host check itself set their own list.

Database fixtures: every storage test runs on SQLite and on the real PostgreSQL server.
PostgreSQL cases run when ``CONVNAS_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it and fails when
the server is unreachable); without it they skip with that reason. Each test gets its own schema
(``search_path`` in the URL), dropped afterwards, so parallel runs and reruns never collide.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.db_helpers import POSTGRES_ENV, PostgresSchema, postgres_base_url

TEST_HOSTS = "testserver,localhost,127.0.0.1,[::1]"


@pytest.fixture(autouse=True)
def _test_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVNAS_ALLOWED_HOSTS", TEST_HOSTS)


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


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine on a fresh database of each backend."""
    from search.records.db import create_db_engine

    eng = create_db_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()

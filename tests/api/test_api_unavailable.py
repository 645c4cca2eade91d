"""A database that stops accepting connections (issue 18): every route answers 503 with a
problem document (pages: the error page), never a 500 or a traceback, and no response shows the
driver's text (host, port, database name).

The real PostgreSQL server refuses connections to a database of the test's own with
``ALTER DATABASE ... ALLOW_CONNECTIONS false`` after its open sessions are ended.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from search.records.db import create_db_engine, dispose_engines
from tests.api.api_helpers import API, make_client
from tests.db_helpers import POSTGRES_ENV, postgres_base_url
from tests.search.search_helpers import spec_data
from tests.search.service_helpers import populate

pytestmark = pytest.mark.postgres


@pytest.fixture
def closable_db() -> Iterator[tuple[str, str]]:
    """A database of its own on the test server: its URL and its name."""
    base = postgres_base_url()
    if base is None:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL cases skipped")
    name = f"convnas_closed_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False), name
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _close(base: str, name: str) -> None:
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
    admin.dispose()


def test_every_route_answers_503_when_the_database_refuses_connections(
    closable_db: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    url, name = closable_db
    populate(create_db_engine(url), name="tiny")
    with make_client(url) as client:
        assert client.get(f"{API}/searches").status_code == 200  # the app's pool is warm
        _close(str(postgres_base_url()), name)
        caplog.clear()
        answers = {
            "list": client.get(f"{API}/searches"),
            "get": client.get(f"{API}/searches/1"),
            "trials": client.get(f"{API}/searches/1/trials"),
            "submit": client.post(f"{API}/searches", json=spec_data("t")),
            "cancel": client.post(f"{API}/searches/1/cancel"),
            "health": client.get(f"{API}/health"),
            "page": client.get("/"),
            "search page": client.get("/searches/1"),
        }
    for what, answer in answers.items():
        assert answer.status_code == 503, (what, answer.status_code, answer.text[:300])
        assert name not in answer.text and "5432" not in answer.text, (what, answer.text)
        assert "Traceback" not in answer.text
    for what in ("list", "get", "trials", "submit", "cancel"):
        problem = answers[what]
        assert problem.headers["content-type"] == "application/problem+json"
        assert problem.json()["status"] == 503
        assert problem.headers["retry-after"]
    assert answers["health"].json()["database"] == "error"
    assert answers["page"].headers["content-type"].startswith("text/html")
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not logged, [r.getMessage() for r in logged]
    assert any(name in r.getMessage() for r in caplog.records)  # the reason is in the log

"""The PostgreSQL test server and its throwaway schemas (the ``db_url`` fixture's plumbing)."""

from __future__ import annotations

import os
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_ENV = "CONVNAS_TEST_POSTGRES_URL"


def postgres_base_url() -> str | None:
    """The PostgreSQL test server's URL, or None when the PostgreSQL cases should skip."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    return url or None


def schema_url(base: str, schema: str) -> str:
    """``base`` with ``schema`` first on its ``search_path``."""
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
        self.url = schema_url(base, self.schema)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.admin.dispose()

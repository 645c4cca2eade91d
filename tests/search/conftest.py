"""Ray for the search tests, and a PostgreSQL schema of their own for the cluster tests; the
database fixtures (``db_url``, ``engine``) are the root conftest's (tests/conftest.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.db_helpers import POSTGRES_ENV, postgres_base_url
from tests.search import search_helpers


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
def pg_url() -> Iterator[str]:
    """A throwaway schema in the PostgreSQL test database (the cluster's records)."""
    base = postgres_base_url()
    if base is None:
        pytest.skip(f"{POSTGRES_ENV} is not set: the cluster test records in PostgreSQL")
    schema = f"convnas_cluster_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

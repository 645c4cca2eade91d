"""Ray for the search tests; the database fixtures (``db_url``, ``engine``) are the root
conftest's (tests/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

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

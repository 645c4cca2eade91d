"""HTTP API fixtures: every route test runs against a real database on each backend.

The database fixtures (``db_url``: SQLite and the real PostgreSQL, ``engine``) are the root
conftest's (tests/conftest.py); the helpers (``tests.search.service_helpers.populate``,
``tests.search.search_helpers.spec_data``) are the search tests' own, imported as modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.api_helpers import make_client

# Environment variables that would change the app under test (a developer's own token...).
_API_ENV = (
    "CONVNAS_API_TOKEN",
    "CONVNAS_API_TOKENS_FILE",
    "CONVNAS_API_READ",
    "CONVNAS_DATA_ROOTS",
    "CONVNAS_MAX_BODY_BYTES",
    "CONVNAS_MAX_TRIALS",
    "CONVNAS_MAX_LAYERS",
    "CONVNAS_MAX_INPUT_SIZE",
    "CONVNAS_MAX_PARAMS",
    "CONVNAS_MAX_FLOPS",
    "CONVNAS_MAX_ACTIVATION_MEMORY",
    "CONVNAS_MAX_DATASET_PIXELS",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _API_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture
def client(db_url: str, data_root: Path) -> Iterator[TestClient]:
    """An open app (no token) on a fresh database of each backend, one data root."""
    with make_client(db_url, data_roots=[data_root]) as c:
        yield c

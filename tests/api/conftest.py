"""HTTP API fixtures: every route test runs against a real database on each backend.

The database fixtures (``db_url``: SQLite and the real PostgreSQL, ``engine``) and the helpers
(``service_helpers.populate``, ``search_helpers.spec_data``) are the search tests' own, imported
from ``tests/search`` rather than copied.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

SEARCH_TESTS = Path(__file__).resolve().parent.parent / "search"
if str(SEARCH_TESTS) not in sys.path:
    sys.path.insert(0, str(SEARCH_TESTS))


def _search_fixtures() -> Any:
    spec = importlib.util.spec_from_file_location(
        "search_db_fixtures", SEARCH_TESTS / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fixtures = _search_fixtures()
db_url = _fixtures.db_url
engine = _fixtures.engine

from api_helpers import make_client  # noqa: E402

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

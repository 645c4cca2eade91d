"""Web page fixtures: the API tests' databases (SQLite and the real PostgreSQL) and clients."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent.parent
for folder in (TESTS / "search", TESTS / "api", TESTS / "web"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fixtures = _load("web_db_fixtures", TESTS / "search" / "conftest.py")
db_url = _fixtures.db_url
engine = _fixtures.engine


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONVNAS_API_TOKEN", "CONVNAS_API_TOKENS_FILE", "CONVNAS_API_READ"):
        monkeypatch.delenv(name, raising=False)

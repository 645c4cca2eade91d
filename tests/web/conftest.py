"""Web page fixtures; the databases (``db_url``: SQLite and the real PostgreSQL, ``engine``) are
the root conftest's (tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONVNAS_API_TOKEN", "CONVNAS_API_TOKENS_FILE", "CONVNAS_API_READ"):
        monkeypatch.delenv(name, raising=False)

"""Helpers shared by the HTTP API tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings

API = "/api/v1"
PROBLEM = "application/problem+json"


def make_client(db_url: str, **settings: Any) -> TestClient:
    """A client of a fresh app on ``db_url`` (exceptions become 500 responses, as served)."""
    app = create_app(ApiSettings(database_url=db_url, **settings))
    return TestClient(app, raise_server_exceptions=False)

"""/health: the database, the schema revision and the runners of running searches."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from search.records.db import Search, session_scope, utcnow
from search.records.migrations import downgrade, head_revision
from tests.api.api_helpers import API
from tests.search.service_helpers import populate


def test_healthy_with_its_runners(client: TestClient, engine: Engine) -> None:
    assert client.get(f"{API}/health").json()["runners"] == []
    live, stale = populate(engine, name="live"), populate(engine, name="stale")
    populate(engine, name="queued")
    me = f"{socket.gethostname()}:{os.getpid()}"
    with session_scope(engine) as s:
        for sid, age in ((live, 3), (stale, 600)):
            search = s.get(Search, sid)
            assert search is not None
            search.status, search.runner = "running", me
            search.heartbeat_at = utcnow() - timedelta(seconds=age)
    response = client.get(f"{API}/health")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["database"] == "ok" and body["migrations"] == "current"
    assert body["revision"] == body["head"] == head_revision()
    runners = {r["search_id"]: r for r in body["runners"]}
    assert set(runners) == {live, stale}
    assert runners[live]["runner"] == me and runners[live]["alive"] is True
    assert 2 <= runners[live]["heartbeat_age"] < 60
    assert runners[stale]["alive"] is False and runners[stale]["heartbeat_age"] >= 600


def test_schema_behind_is_reported(client: TestClient, engine: Engine) -> None:
    assert client.get(f"{API}/health").status_code == 200  # the app's engine exists now
    downgrade(engine, "0002")
    response = client.get(f"{API}/health")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok" and body["migrations"] == "behind"
    assert body["revision"] == "0002" and body["ok"] is False

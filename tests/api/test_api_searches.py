"""Searches over HTTP: submit (JSON and YAML), list, get, cancel, resume, delete."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from search.records.db import Search, session_scope, utcnow
from tests.search.search_helpers import spec_data
from tests.search.service_helpers import populate

API = "/api/v1"


def test_submit_json_queues_the_search_with_links(client: TestClient) -> None:
    response = client.post(f"{API}/searches", json=spec_data("tiny"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["name"] == "tiny"
    assert body["requested"] == 4
    sid = body["id"]
    assert response.headers["location"] == f"{API}/searches/{sid}"
    assert body["links"] == {
        "self": f"{API}/searches/{sid}",
        "trials": f"{API}/searches/{sid}/trials",
        "export": f"{API}/searches/{sid}/export",
    }
    assert client.get(body["links"]["self"]).json()["id"] == sid


def test_submit_yaml_is_the_same_search(client: TestClient) -> None:
    text = yaml.safe_dump(spec_data("from_yaml"))
    response = client.post(
        f"{API}/searches", content=text, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "from_yaml"
    also = client.post(f"{API}/searches", content=text, headers={"Content-Type": "text/yaml"})
    assert also.status_code == 201


def test_list_filters_and_pages(client: TestClient, engine: Engine) -> None:
    populate(engine, name="a")
    populate(engine, name="b")
    populate(engine, name="a")
    page = client.get(f"{API}/searches").json()
    assert page["total"] == 3 and page["limit"] == 50 and page["offset"] == 0
    assert [s["name"] for s in page["items"]] == ["a", "b", "a"]  # newest first
    named = client.get(f"{API}/searches", params={"name": "a"}).json()
    assert named["total"] == 2
    second = client.get(f"{API}/searches", params={"limit": 1, "offset": 1}).json()
    assert [s["name"] for s in second["items"]] == ["b"] and second["total"] == 3
    queued = client.get(f"{API}/searches", params={"status": "queued"}).json()
    assert queued["total"] == 3
    assert client.get(f"{API}/searches", params={"status": "running"}).json()["total"] == 0


def test_get_by_id_and_by_name_with_progress(client: TestClient, engine: Engine) -> None:
    first = populate(engine, name="tiny")
    latest = populate(engine, name="tiny")
    by_id = client.get(f"{API}/searches/{first}").json()
    assert by_id["id"] == first
    assert by_id["counts"] == {"completed": 2, "failed": 1}
    assert by_id["best"] == [0.9]
    assert client.get(f"{API}/searches/tiny").json()["id"] == latest


def test_unknown_search_is_a_404_problem(client: TestClient) -> None:
    for path in ("/searches/999", "/searches/nope", "/searches/99999999999999999999/trials"):
        response = client.get(API + path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 404 and body["title"] == "Not Found"
        assert "no search" in body["detail"]


def test_cancel_then_resume_is_refused(client: TestClient, engine: Engine) -> None:
    sid = populate(engine)
    cancelled = client.post(f"{API}/searches/{sid}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["search"]["status"] == "cancelled"
    refused = client.post(f"{API}/searches/{sid}/resume")
    assert refused.status_code == 409
    assert "nothing to run" in refused.json()["detail"]


def _make_running(engine: Engine, sid: int) -> None:
    with session_scope(engine) as s:
        search = s.get(Search, sid)
        assert search is not None
        search.status = "running"
        search.runner = f"{socket.gethostname()}:{os.getpid()}"
        search.heartbeat_at = utcnow()


def test_resume_needs_force_while_the_driver_lives(client: TestClient, engine: Engine) -> None:
    sid = populate(engine)
    _make_running(engine, sid)
    assert client.post(f"{API}/searches/{sid}/resume").status_code == 409
    forced = client.post(f"{API}/searches/{sid}/resume", params={"force": "true"})
    assert forced.status_code == 200
    assert forced.json()["search"]["status"] == "queued"


def test_delete_is_refused_while_running_then_deletes(client: TestClient, engine: Engine) -> None:
    sid = populate(engine)
    _make_running(engine, sid)
    refused = client.delete(f"{API}/searches/{sid}")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    with session_scope(engine) as s:  # its driver died: the heartbeat went stale
        s.get(Search, sid).heartbeat_at = utcnow() - timedelta(minutes=5)  # type: ignore[union-attr]
    deleted = client.delete(f"{API}/searches/{sid}")
    assert deleted.status_code == 200
    assert deleted.json() == {"message": f"search {sid} deleted", "search": None}
    assert client.get(f"{API}/searches/{sid}").status_code == 404

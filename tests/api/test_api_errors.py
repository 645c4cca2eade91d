"""One error shape for everything (RFC 9457 problem details): spec problems with their YAML
lines, request validation, unknown routes, media types, bodies, the unexpected and the database
being down."""

from __future__ import annotations

import json
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.settings import ApiSettings
from search import service
from search.records.db import Search, session_scope
from tests.search.search_helpers import spec_data
from tests.search.service_helpers import populate

API = "/api/v1"
PROBLEM = "application/problem+json"
YAML = {"Content-Type": "application/yaml"}
# Two problems on known lines (classes on line 4, a layer's channels on line 7).
BAD_SPEC = """\
name: bad
dataset: {name: digits}
input: {size: 8, channels: 1}
classes: 1
layers:
  - name: conv1
    channels: -3
    kernel: 3
"""


def _bomb() -> str:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*l{i - 1}"] * 9)
        lines.append(f"l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


def _problem(response: object, status: int) -> dict:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status and body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    return body


def test_every_spec_problem_with_its_yaml_line(client: TestClient) -> None:
    body = _problem(client.post(f"{API}/searches", content=BAD_SPEC, headers=YAML), 422)
    got = {(p["path"], p["line"]) for p in body["errors"]}
    assert ("classes", 4) in got and ("layers.0.channels", 7) in got
    assert all("message" in p for p in body["errors"])
    assert any(p.get("value") == -3 for p in body["errors"])
    # The same problems `convnas space validate` prints (the one service function).
    expected = service.validate_spec(BAD_SPEC, source="request body").errors
    assert body["errors"] == [p.model_dump(mode="json") for p in expected]
    assert client.get(f"{API}/searches").json()["total"] == 0  # nothing queued


def test_validate_lists_problems_or_describes_the_space(client: TestClient) -> None:
    bad = client.post(f"{API}/spaces/validate", content=BAD_SPEC, headers=YAML)
    assert bad.status_code == 200
    assert bad.json()["ok"] is False and len(bad.json()["errors"]) >= 2
    good = client.post(f"{API}/spaces/validate", json=spec_data("ok")).json()
    assert good["ok"] is True and good["architectures"] and good["layers"] == 2


def test_json_syntax_error_has_a_line(client: TestClient) -> None:
    text = '{\n  "name": "x",\n  "classes": [1,\n}'
    body = _problem(
        client.post(f"{API}/searches", content=text, headers={"Content-Type": "application/json"}),
        422,
    )
    assert body["errors"][0]["line"] == 4


def test_alias_bomb_is_a_fast_422(client: TestClient) -> None:
    started = time.perf_counter()
    body = _problem(client.post(f"{API}/searches", content=_bomb(), headers=YAML), 422)
    assert time.perf_counter() - started < 2.0
    assert "MAX_NODES" in body["errors"][0]["message"] or "alias" in body["errors"][0]["message"]
    validated = client.post(f"{API}/spaces/validate", content=_bomb(), headers=YAML).json()
    assert validated["ok"] is False


def test_request_validation_is_the_same_shape(client: TestClient) -> None:
    body = _problem(client.get(f"{API}/searches", params={"limit": 10**6, "offset": "x"}), 422)
    by_path = {p["path"]: p for p in body["errors"]}
    assert set(by_path) == {"limit", "offset"}
    assert by_path["limit"]["value"] == str(10**6) and by_path["offset"]["value"] == "x"
    # A page's own bounds are the service's: the same message as the CLI's.
    body = _problem(client.get(f"{API}/searches", params={"limit": 0}), 422)
    assert body["errors"] == [
        {"path": "limit", "message": "must be at least 1", "line": None, "value": 0}
    ]
    nul = _problem(client.get(f"{API}/searches", params={"name": "a\x00b"}), 422)
    assert nul["errors"][0]["path"] == "name"


def test_unknown_route_method_and_media_type(client: TestClient) -> None:
    _problem(client.get(f"{API}/nothing"), 404)
    _problem(client.put(f"{API}/searches"), 405)
    _problem(
        client.post(f"{API}/searches", content="x", headers={"Content-Type": "text/html"}), 415
    )
    body = _problem(client.post(f"{API}/searches", content=b"\xff\xfe", headers=YAML), 422)
    assert "UTF-8" in body["errors"][0]["message"]


def test_body_over_the_limit_is_a_413(db_url: str) -> None:
    app = create_app(ApiSettings(database_url=db_url, max_body_bytes=1000))
    with TestClient(app) as client:
        big = "name: x\n" + "# padding\n" * 200
        _problem(client.post(f"{API}/searches", content=big, headers=YAML), 413)

        def chunks():  # no Content-Length: the limit holds while the body streams in
            for _ in range(50):
                yield b"# padding padding padding padding\n"

        streamed = client.post(f"{API}/searches", content=chunks(), headers=YAML)
        _problem(streamed, 413)
        small = client.post(f"{API}/spaces/validate", json=spec_data("ok"))
        assert small.status_code == 200


def test_default_body_limit_is_the_document_limit(client: TestClient) -> None:
    huge = "a: 1\n" + "#" * (1024 * 1024)
    _problem(client.post(f"{API}/searches", content=huge, headers=YAML), 413)


def test_unexpected_errors_are_a_logged_500(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    app: FastAPI = create_app(ApiSettings(database_url=db_url))

    def boom() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        body = _problem(client.get("/boom"), 500)
    assert "secret" not in body["detail"]
    assert "secret internals" in caplog.text


def test_database_down_is_a_503(tmp_path: object) -> None:
    app = create_app(ApiSettings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    with TestClient(app) as client:
        body = _problem(client.get(f"{API}/searches"), 503)
        assert body["detail"].startswith("the database is unavailable")
        health = client.get(f"{API}/health")
        assert health.status_code == 503
        assert health.json()["database"] == "error"
        assert health.json()["migrations"] == "unknown"
        # Open responses never carry the driver's text (host, port, database, user).
        for text in (str(body), health.text):
            assert "127.0.0.1" not in text and "nobody" not in text and ":1/" not in text


def test_values_the_database_cannot_hold_never_reach_it(client: TestClient, engine: Engine) -> None:
    """Found by fuzzing: these were a 500 (PostgreSQL refuses NUL and out-of-range integers,
    SQLite overflows, int('²') raises) before the edge checked them."""
    populate(engine)
    for ref in ("99999999999999999999", "2147483648", "²"):
        _problem(client.get(f"{API}/searches/{ref}"), 404)
    nul = _problem(client.get(f"{API}/searches/a%00b"), 422)
    assert nul["errors"][0]["path"] == "ref"
    huge = str(2**70)
    for path, params in (
        ("/searches", {"offset": huge}),
        ("/searches/1/trials", {"params_max": huge}),
        ("/searches/1/trials", {"flops_min": "-1"}),
        ("/searches/1/export", {"trial": huge}),
    ):
        _problem(client.get(API + path, params=params), 422)
    _problem(client.get(f"{API}/searches/1/trials/{2**40}"), 422)
    assert client.get(f"{API}/searches/1/trials", params={"status": "all"}).status_code == 200


def test_json_bodies_follow_json_number_rules(client: TestClient, engine: Engine) -> None:
    data = spec_data("exp")
    data["training"]["lr"] = 1e-05  # json.dumps writes 1e-05, which YAML 1.1 reads as text
    text = json.dumps(data)
    assert "1e-05" in text
    response = client.post(
        f"{API}/searches", content=text, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    with session_scope(engine) as s:
        stored = s.get(Search, response.json()["id"])
        assert stored is not None and stored.spec["training"]["lr"] == 1e-05
    nan = text.replace("1e-05", "NaN")
    body = _problem(
        client.post(f"{API}/searches", content=nan, headers={"Content-Type": "application/json"}),
        422,
    )
    assert "NaN" in body["errors"][0]["message"]
    yaml_as_json = _problem(
        client.post(
            f"{API}/searches", content="name: x\n", headers={"Content-Type": "application/json"}
        ),
        422,
    )
    assert yaml_as_json["errors"][0]["message"].startswith("not valid JSON")

"""What every request passes (issue 18): the Host, cross-site mutations (CSRF), a body's media
type, security headers, HEAD and OPTIONS, the offline docs, and the pages' own parameters.

The browser's side of CSRF (a real form and a no-cors fetch from another loopback port) is in
tests/web/test_browser_csrf.py; slow and abandoned bodies in test_http_hostile.py.
"""

from __future__ import annotations

import re
import socket

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.security import LOOPBACK_HOSTS, hosts_for_bind
from api.settings import ApiSettings
from search import service
from tests.api.api_helpers import API, PROBLEM
from tests.search.service_helpers import populate

YAML = {"Content-Type": "application/yaml"}
SPEC = "name: planted\n"


def _status(engine: Engine, search_id: int) -> str:
    return str(service.get_search(engine, str(search_id)).status)


# --- Host ----------------------------------------------------------------------------------


def test_the_default_hosts_are_the_loopback_names(db_url: str) -> None:
    app = create_app(ApiSettings(database_url=db_url, allowed_hosts=[]))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get(f"{API}/presets").status_code == 200
        for host in ("evil.example", "evil.example:8000", "testserver", ""):
            refused = client.get(f"{API}/presets", headers={"Host": host})
            assert refused.status_code == 400, host
            assert refused.headers["content-type"] == PROBLEM
        for host in ("localhost:8000", "LOCALHOST", "[::1]:8000", "127.0.0.1"):
            assert client.get(f"{API}/presets", headers={"Host": host}).status_code == 200
        # An address is no rebinding: only a page whose origin is that address sends it.
        for host in ("10.1.2.3:8000", "[fd00::5]", "192.168.0.9"):
            assert client.get(f"{API}/presets", headers={"Host": host}).status_code == 200
        for host in ("127.0.0.1.evil.example", "[::1].evil.example", "[nonsense]"):
            assert client.get(f"{API}/presets", headers={"Host": host}).status_code == 400
    wildcard = create_app(ApiSettings(database_url=db_url, allowed_hosts=["*"]))
    with TestClient(wildcard, base_url="http://anything.example") as client:
        assert client.get(f"{API}/presets").status_code == 200


def test_the_hosts_of_a_bind_address() -> None:
    assert hosts_for_bind("127.0.0.1") == list(LOOPBACK_HOSTS)
    assert hosts_for_bind("::1") == list(LOOPBACK_HOSTS)
    assert hosts_for_bind("10.1.2.3") == [*LOOPBACK_HOSTS, "10.1.2.3"]
    assert hosts_for_bind("fd00::5")[-1] == "[fd00::5]"
    assert hosts_for_bind("0.0.0.0")[-1] == socket.gethostname().lower()


def test_allowed_hosts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVNAS_ALLOWED_HOSTS", " api.example.org, Proxy.Local ,")
    assert ApiSettings().allowed_hosts == ["api.example.org", "proxy.local"]


# --- Cross-site mutations and media types ----------------------------------------------------


def test_a_body_must_say_it_is_json_or_yaml(client: TestClient, engine: Engine) -> None:
    search_id = populate(engine)
    # A typeless Blob (no-cors fetch): no Content-Type at all.
    for headers in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "multipart/form-data"}):
        refused = client.post(f"{API}/searches", content=SPEC, headers=headers)
        assert refused.status_code == 415, (headers, refused.text)
        assert refused.headers["content-type"] == PROBLEM
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (
        client.post(f"{API}/searches/{search_id}/cancel", content="a=1", headers=form).status_code
        == 415
    )
    assert client.post(f"{API}/spaces/validate", content="").status_code == 415
    assert client.get(f"{API}/searches").json()["total"] == 1  # nothing was queued
    assert _status(engine, search_id) == "queued"
    # curl and the CLI send no body and no type on an action
    assert client.post(f"{API}/searches/{search_id}/cancel").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://127.0.0.1:9999"},  # another loopback port: same site, not same origin
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed frame, a file: page
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://testserver"},  # fetch metadata wins
    ],
)
def test_a_change_from_another_site_is_refused(
    client: TestClient, engine: Engine, headers: dict[str, str]
) -> None:
    search_id = populate(engine)
    for method, path in (("POST", "/cancel"), ("POST", "/resume"), ("DELETE", "")):
        refused = client.request(method, f"{API}/searches/{search_id}{path}", headers=headers)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.headers["content-type"] == PROBLEM
        assert "another site" in refused.json()["detail"]
    submitted = client.post(f"{API}/searches", content=SPEC, headers={**YAML, **headers})
    assert submitted.status_code == 403
    assert _status(engine, search_id) == "queued"
    assert client.get(f"{API}/searches", headers=headers).status_code == 200  # reads: open


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://testserver"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
        {"Sec-Fetch-Site": "none"},  # typed by the user
        {},  # not a browser
    ],
)
def test_the_servers_own_pages_and_clients_may_change(
    client: TestClient, engine: Engine, headers: dict[str, str]
) -> None:
    search_id = populate(engine)
    assert client.post(f"{API}/searches/{search_id}/cancel", headers=headers).status_code == 200


# --- Response headers, HEAD, OPTIONS -------------------------------------------------------


def test_every_answer_forbids_framing_and_sniffing(client: TestClient) -> None:
    for path in ("/", "/searches/new", f"{API}/searches", f"{API}/searches/999", "/static/app.js"):
        headers = client.get(path).headers
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "no-referrer", path
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp, path
        assert "unsafe-eval" not in csp


def test_head_options_and_the_allow_header(client: TestClient) -> None:
    got = client.get(f"{API}/health")
    head = client.head(f"{API}/health")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    assert client.head("/").status_code == 200
    options = client.options(f"{API}/searches/1")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, HEAD, DELETE, OPTIONS"
    wrong = client.put(f"{API}/searches/1")
    assert wrong.status_code == 405 and wrong.headers["content-type"] == PROBLEM
    assert wrong.headers["allow"] == "GET, HEAD, DELETE, OPTIONS"  # before: "GET"
    assert client.patch(f"{API}/searches").headers["allow"] == "GET, HEAD, POST, OPTIONS"
    assert client.delete("/static/app.js").headers["allow"] == "GET, HEAD, OPTIONS"


# --- The docs, offline ---------------------------------------------------------------------


def test_the_docs_load_nothing_from_the_internet(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert not re.search(r"https?://|//[a-z]", html), html
        assert "<script>" not in html  # no inline script: the CSP would refuse it
        assets = re.findall(r'(?:src|href|spec-url|data-openapi)="([^"]+)"', html)
        assert len(assets) >= 3, html
        for asset in assets:
            loaded = client.get(asset)
            assert loaded.status_code == 200, asset
    assert (
        client.get("/docs-assets/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith("text/javascript")
    )


# --- The pages' own parameters ---------------------------------------------------------------


def test_a_page_given_a_bad_number_answers_with_the_error_page(
    client: TestClient, engine: Engine
) -> None:
    search_id = populate(engine)
    for path, status in (
        ("/?offset=x", 422),
        (f"/searches/{search_id}?offset=1.5", 422),
        (f"/searches/{search_id}/trials/abc", 404),
        (f"/searches/{search_id}/trials/-", 404),
    ):
        answer = client.get(path)
        assert answer.status_code == status, (path, answer.text[:200])
        assert answer.headers["content-type"].startswith("text/html"), path
        assert "<!doctype html>" in answer.text.lower()

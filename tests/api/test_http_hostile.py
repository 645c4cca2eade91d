"""Raw requests to a real `convnas serve` (issue 18; tests/hostile/http/README.md): a body that
trickles in is cut off with a 408, a client that disconnects mid-body costs one INFO line (no
traceback), and a Host the server is not reached by (DNS rebinding) is refused.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.test_serve import serving

BODY_TIMEOUT = 2.0
GONE = "the client disconnected before sending its whole body"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One `convnas serve --no-runner` with a short body deadline and its default hosts: its
    URL and its output file."""
    env = {"CONVNAS_BODY_TIMEOUT": str(BODY_TIMEOUT), "CONVNAS_ALLOWED_HOSTS": ""}
    with serving(tmp_path_factory.mktemp("serve"), "--no-runner", env=env) as (url, _, out):
        yield url, out


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _head(url: str, length: int) -> bytes:
    where = url.removeprefix("http://")
    return (
        f"POST /api/v1/spaces/validate HTTP/1.1\r\nHost: {where}\r\n"
        f"Content-Type: application/yaml\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _rest(sock: socket.socket) -> bytes:
    """What the server still sends before it closes (the body may follow the head apart)."""
    got = b""
    sock.settimeout(2)
    while True:
        try:
            chunk = sock.recv(4096)
        except OSError:
            return got
        if not chunk:
            return got
        got += chunk


def test_a_trickled_body_is_cut_off_with_a_408(server: tuple[str, Path]) -> None:
    url, _ = server
    with _connect(url) as sock:
        sock.sendall(_head(url, 1000))
        started = time.monotonic()
        sock.settimeout(0.5)
        answer = b""
        # One byte every half second, as long as the server listens (before: for ever).
        while not answer and time.monotonic() - started < 10:
            try:
                sock.sendall(b"#")
                answer = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:  # closed on us after the answer
                break
        took = time.monotonic() - started
        answer += _rest(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"application/problem+json" in answer and b"did not arrive within" in answer
    assert BODY_TIMEOUT - 0.5 < took < BODY_TIMEOUT + 3, took


def test_a_client_gone_mid_body_is_one_info_line(server: tuple[str, Path]) -> None:
    url, out = server
    before = out.read_text()
    with _connect(url) as sock:
        sock.sendall(_head(url, 1000) + b"name: half")
        time.sleep(0.3)  # the route is reading the body
    deadline = time.monotonic() + 10
    while GONE not in out.read_text()[len(before) :]:
        assert time.monotonic() < deadline, out.read_text()[len(before) :]
        time.sleep(0.1)
    time.sleep(0.5)  # anything else it would log about this request
    said = out.read_text()[len(before) :]
    assert said.count(GONE) == 1, said
    assert said.splitlines()[0].startswith("INFO:"), said
    assert "Traceback" not in said and "ERROR" not in said, said


def test_a_host_it_is_not_reached_by_is_refused(server: tuple[str, Path]) -> None:
    url, _ = server
    for host in ("evil.example", "evil.example:80", "127.0.0.1.evil.example"):
        refused = httpx.get(f"{url}/api/v1/searches", headers={"Host": host})
        assert refused.status_code == 400, host
        assert refused.headers["content-type"] == "application/problem+json"
        assert "CONVNAS_ALLOWED_HOSTS" in refused.json()["detail"]
    port = url.rsplit(":", 1)[1]
    for host in ("127.0.0.1", "localhost", f"localhost:{port}", f"[::1]:{port}"):
        assert httpx.get(f"{url}/api/v1/searches", headers={"Host": host}).status_code == 200

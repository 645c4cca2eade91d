"""Transport-level failures of the HTTP client: what no real convnas server sends (a timeout,
a proxy's HTML error page, a 200 that is not JSON). Real responses are tested against the real
app in test_remote_cli.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.client import ApiClient
from space.errors import ConvnasError

URL = "http://lab.example:8000/convnas"


def client(handler: object) -> ApiClient:
    return ApiClient(URL, "t0k", transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def test_a_timeout_names_the_server_and_the_request() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ConvnasError, match=f"server at {URL} did not answer GET /searches/3"):
        client(slow).get_search(3)


def test_a_proxy_error_page_is_one_line_with_its_status() -> None:
    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad Gateway</html>")

    with pytest.raises(ConvnasError, match=f"server at {URL} answered 502 Bad Gateway"):
        client(proxy).list_searches()


def test_a_page_that_is_not_json_says_so() -> None:
    seen: list[httpx.Request] = []

    def login_page(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, text="<html>sign in</html>", headers={"content-type": "text/html"}
        )

    with pytest.raises(ConvnasError, match=r"not JSON \(text/html\); is it a convnas server"):
        client(login_page).cancel("tiny")
    # The path prefix is kept, the token sent, the name escaped into one path segment.
    assert str(seen[0].url) == f"{URL}/api/v1/searches/tiny/cancel"
    assert seen[0].headers["authorization"] == "Bearer t0k"


class _Broken(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield b"half of the weights"
        raise httpx.ReadError("connection reset by peer")


def test_a_download_cut_short_leaves_no_file(tmp_path: Path) -> None:
    document = {"arch": {}, "provenance": {"search": {"id": 3}, "trial": {"number": 1}}}

    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/export/weights"):
            disposition = {"content-disposition": 'attachment; filename="model.pt"'}
            return httpx.Response(200, stream=_Broken(), headers=disposition)
        return httpx.Response(200, text=json.dumps(document))

    target = tmp_path / "best.json"
    with pytest.raises(ConvnasError, match="failed during GET /searches/3/export/weights"):
        client(server).export(3, fmt="json", output=target, weights=True)
    assert list(tmp_path.iterdir()) == []  # neither the weights, a .part, nor the document

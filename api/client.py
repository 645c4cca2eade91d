"""A client of the convnas HTTP API with the service layer's calls, results and errors.

:class:`ApiClient` implements :class:`search.service.Service` (the calls the CLI makes:
``list_searches``, ``trials``, ``export``...) over HTTP: it parses each response with the
service's own models and rebuilds the service's errors from the problem document (404 NotFound,
409 Conflict, 422 InvalidRequest with every problem's path, message, value and line), so a
command formats a remote result with the code that formats a local one.

A command that asks for every row (no ``--limit``/``--top``) gets every row here too: the
client reads the server's pages until it has them all.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx

from search.service import (
    ActionOut,
    Conflict,
    ExportOut,
    InvalidRequest,
    LeaderboardPage,
    NotFound,
    SearchOut,
    SearchPage,
    TrialDetail,
    TrialQuery,
    check_export_target,
    checked_note,
    render_export,
)
from space.errors import ConvnasError, Problem

SERVER_ENV = "CONVNAS_SERVER"
TOKEN_ENV = "CONVNAS_API_TOKEN"  # noqa: S105 (the variable's name)
API_PREFIX = "/api/v1"
# Rows per request when a command wants more than one page (the server allows up to 10,000).
PAGE = 5000
TIMEOUT = httpx.Timeout(60.0, connect=10.0)

Page = TypeVar("Page", SearchPage, LeaderboardPage)


class ApiClient:
    """:class:`search.service.Service` at ``url`` (``http(s)://host:port``, optionally with a
    path prefix), with ``token`` sent as ``Authorization: Bearer``."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float = TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = _server_url(url)
        self.has_token = bool(token)
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        base = self.url if self.url.endswith(API_PREFIX) else self.url + API_PREFIX
        self._http = httpx.Client(
            base_url=base, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------
    # searches
    # ---------------------------------------------------------------------------------------

    def list_searches(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> SearchPage:
        """Searches newest first (every one when ``limit`` is None)."""
        params = {"status": status, "name": name}
        return self._pages("/searches", params, SearchPage, limit, offset)

    def get_search(self, ref: str | int) -> SearchOut:
        return SearchOut.model_validate(self._json("GET", _search(ref)))

    def submit(self, document: Path) -> SearchOut:
        """Send a spec file as it is (YAML, or JSON for ``.json``); the server queues it.

        The file is read and parsed here first, so a missing, oversized or malformed file is
        reported exactly as a local submit reports it; the server's problems name the file.
        """
        from space.document import read_document

        read_document(document)
        media = "application/json" if document.suffix.lower() == ".json" else "application/yaml"
        body = document.read_bytes()
        data = self._json(
            "POST", "/searches", content=body, headers={"Content-Type": media}, source=document
        )
        return SearchOut.model_validate(data)  # the links are the server's business

    def cancel(self, ref: str | int) -> ActionOut:
        return ActionOut.model_validate(self._json("POST", f"{_search(ref)}/cancel"))

    def resume(self, ref: str | int, *, force: bool = False) -> ActionOut:
        """Queue the search again for the server's runner."""
        data = self._json("POST", f"{_search(ref)}/resume", params={"force": force})
        return ActionOut.model_validate(data)

    def delete(self, ref: str | int) -> ActionOut:
        return ActionOut.model_validate(self._json("DELETE", _search(ref)))

    def set_search_note(self, ref: str | int, note: str | None) -> SearchOut:
        """Set or clear (None or blank) a search's note; checked here first, as a local call
        checks it (a lone surrogate from a command line's bytes could not even be sent)."""
        body = {"note": checked_note(note)}
        data = self._json("PUT", f"{_search(ref)}/note", json=body)
        return SearchOut.model_validate(data)

    # ---------------------------------------------------------------------------------------
    # trials
    # ---------------------------------------------------------------------------------------

    def trials(self, ref: str | int, query: TrialQuery = TrialQuery()) -> LeaderboardPage:
        """The leaderboard (every matching row when ``query.limit`` is None)."""
        params = {
            "sort": query.sort,
            "status": query.status,
            "pareto": query.pareto,
            "params_min": query.params_min,
            "params_max": query.params_max,
            "flops_min": query.flops_min,
            "flops_max": query.flops_max,
            "cell_kind": query.cell_kind,
            "param": list(query.param) or None,
        }
        path = f"{_search(ref)}/trials"
        return self._pages(path, params, LeaderboardPage, query.limit, query.offset)

    def trial(self, ref: str | int, number: int) -> TrialDetail:
        return TrialDetail.model_validate(self._json("GET", f"{_search(ref)}/trials/{number}"))

    def set_trial_note(self, ref: str | int, number: int, note: str | None) -> TrialDetail:
        """Set or clear a trial's note (checked here first, as set_search_note)."""
        body = {"note": checked_note(note)}
        data = self._json("PUT", f"{_search(ref)}/trials/{number}/note", json=body)
        return TrialDetail.model_validate(data)

    def export(
        self,
        ref: str | int,
        *,
        number: int | None = None,
        fmt: str = "yaml",
        output: Path | None = None,
        weights: bool = False,
    ) -> ExportOut:
        """The server's export document, written to ``output`` when given, with the trained
        weights downloaded beside it (``weights``) and recorded in its provenance, as a local
        export writes them."""
        check_export_target(output, weights)
        params = {"format": fmt, "trial": number}
        text = self._request("GET", f"{_search(ref)}/export", params=params).text
        document = _document(text, fmt, self.url)
        provenance = document["provenance"]
        trial = int(provenance["trial"]["number"])
        kept: Path | None = None
        if weights and output is not None:
            kept, digest = self._download_weights(ref, trial, output)
            provenance["weights"] = {"file": kept.name, "sha256": digest}
            text = _render(document, fmt)
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text)
        return ExportOut(
            search_id=int(provenance["search"]["id"]),
            trial=trial,
            format="json" if fmt == "json" else "yaml",
            document=document,
            text=text,
            weights=str(kept) if kept else None,
            output=str(output) if output else None,
        )

    def _download_weights(self, ref: str | int, trial: int, output: Path) -> tuple[Path, str]:
        """Stream the weights file to ``OUTPUT_STEM.weights.SUFFIX``; its path and sha256."""
        path = f"{_search(ref)}/export/weights"
        digest = hashlib.sha256()
        with self._send("GET", path, params={"trial": trial}) as response:
            if response.is_error:
                response.read()
                raise self._error(response)
            suffix = _suffix(response.headers.get("content-disposition", ""))
            target = output.with_name(output.stem + ".weights" + suffix)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            try:
                with partial.open("wb") as sink:
                    for block in response.iter_bytes(1 << 20):
                        digest.update(block)
                        sink.write(block)
            except BaseException:
                partial.unlink(missing_ok=True)  # never a truncated file under the real name
                raise
            partial.replace(target)
        return target, digest.hexdigest()

    # ---------------------------------------------------------------------------------------
    # HTTP
    # ---------------------------------------------------------------------------------------

    def _pages(
        self,
        path: str,
        params: dict[str, Any],
        model: type[Page],
        limit: int | None,
        offset: int,
    ) -> Page:
        """``limit`` rows from ``offset`` (every row when None), a server page at a time."""
        first: Page | None = None
        items: list[Any] = []
        at = offset
        while True:
            want = PAGE if limit is None else min(PAGE, limit - len(items))
            page = model.model_validate(
                self._json("GET", path, params={**params, "limit": want, "offset": at})
            )
            first = first or page
            items.extend(page.items)
            at += len(page.items)
            done = limit is not None and len(items) >= limit
            if done or len(page.items) < want or not page.items:
                return first.model_copy(update={"limit": limit, "offset": offset, "items": items})

    def _json(self, method: str, path: str, *, source: Path | None = None, **kwargs: Any) -> Any:
        response = self._request(method, path, source=source, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ConvnasError(
                f"the server at {self.url} answered {method} {path} with something that is "
                f"not JSON ({response.headers.get('content-type', 'no content type')}); is "
                "it a convnas server?"
            ) from None

    def _request(
        self, method: str, path: str, *, source: Path | None = None, **kwargs: Any
    ) -> httpx.Response:
        with self._send(method, path, **kwargs) as response:
            response.read()
        if response.is_error:
            raise self._error(response, source)
        return response

    @contextmanager
    def _send(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, **kwargs: Any
    ) -> Iterator[httpx.Response]:
        """The response, streamed; a server that cannot be reached is one clear line."""
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        try:
            with self._http.stream(method, path, params=query, **kwargs) as response:
                yield response
        except httpx.TimeoutException:
            raise ConvnasError(
                f"the convnas server at {self.url} did not answer {method} {path} in time"
            ) from None
        except (httpx.ConnectError, httpx.UnsupportedProtocol) as exc:
            raise ConvnasError(
                f"cannot reach the convnas server at {self.url} ({_reason(exc)}); is "
                f"`convnas serve` running there? (the URL comes from --server or {SERVER_ENV})"
            ) from None
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise ConvnasError(
                f"the exchange with the convnas server at {self.url} failed during {method} "
                f"{path} ({_reason(exc)})"
            ) from None

    def _error(self, response: httpx.Response, source: Path | None = None) -> ConvnasError:
        return error_from(response, self.url, has_token=self.has_token, source=source)


def error_from(
    response: httpx.Response, url: str, *, has_token: bool = False, source: Path | None = None
) -> ConvnasError:
    """The service's error for a problem document (any other error body: one clear line)."""
    status = response.status_code
    body = _problem_body(response)
    detail = str(body.get("detail") or response.reason_phrase or "error")
    if status == 404:
        return NotFound(detail)
    if status == 409:
        return Conflict(detail)
    if status == 422 and isinstance(body.get("errors"), list) and body["errors"]:
        where = str(source) if source is not None else None
        return InvalidRequest([_problem(item, where) for item in body["errors"]])
    if status == 401:
        return ConvnasError(
            f"the server at {url} needs a token ({detail}): set {TOKEN_ENV} to one it accepts"
        )
    if status == 403:
        given = f"the token in {TOKEN_ENV}" if has_token else "this request"
        return ConvnasError(f"the server at {url} refused {given} ({detail}); check {TOKEN_ENV}")
    return ConvnasError(f"the server at {url} answered {status} {response.reason_phrase}: {detail}")


def _problem_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _problem(item: Any, source: str | None) -> Problem:
    data = item if isinstance(item, dict) else {"message": str(item)}
    line = data.get("line")
    # A problem without "value" names none (Problem tells "no value" from a None value).
    value = {"value": data["value"]} if "value" in data else {}
    return Problem(
        path=str(data.get("path", "")),
        message=str(data.get("message", "invalid")),
        line=line if isinstance(line, int) else None,
        source=source,
        **value,
    )


def _server_url(url: str) -> str:
    text = url.strip().rstrip("/")
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL:
        parsed = httpx.URL("")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConvnasError(
            f"{url!r} is not a server URL: expected http://HOST:PORT or https://HOST[/PREFIX] "
            f"(from --server or {SERVER_ENV})"
        )
    return text


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _search(ref: str | int) -> str:
    return "/searches/" + quote(str(ref).strip(), safe="")


def _param(value: Any) -> str | int | float:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, int | float) else str(value)


def _document(text: str, fmt: str, url: str) -> dict[str, Any]:
    from space.document import parse_document

    # JSON is read as JSON: a YAML 1.1 reader takes 1e-05 for a string.
    data = json.loads(text) if fmt == "json" else parse_document(text, url)[0]
    if not isinstance(data, dict) or not isinstance(data.get("provenance"), dict):
        raise ConvnasError(f"the server at {url} sent an export without its provenance")
    return data


def _render(document: dict[str, Any], fmt: str) -> str:
    return render_export(document, "json" if fmt == "json" else "yaml")


_FILENAME = re.compile(r"filename\*?=(?:[\w-]+'[^']*')?\"?([^\";]+)\"?", re.IGNORECASE)


def _suffix(disposition: str) -> str:
    found = _FILENAME.search(disposition)
    return Path(found.group(1)).suffix if found else ".pt"

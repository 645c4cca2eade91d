"""Bearer tokens, the request body's size and deadline, and what a browser may be made to do.

Tokens are compared with :func:`hmac.compare_digest` against every accepted token (no early
exit), so a response's timing says nothing about how much of a guess was right. Mutations always
need a token when one is configured; reads need one when ``CONVNAS_API_READ=token``.

Without a token (the local default) the browser is the danger: any page the user opens can send
requests to a server on 127.0.0.1. So, whatever the tokens: the Host must be one of the
server's own names (DNS rebinding), a mutation from another site's page is refused and a
mutation's body must be JSON or YAML (CSRF), and every response forbids framing and sniffing.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from fastapi import Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import SPEC_TYPES
from api.problems import ApiProblem, problem_response

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="convnas"'}
log = logging.getLogger("convnas.api")


class TokenCheck:
    """The configured tokens (none: every request is allowed)."""

    def __init__(self, tokens: Sequence[str], *, private_reads: bool) -> None:
        self._tokens = [token.encode("utf-8") for token in tokens]
        self.private_reads = private_reads

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def accepts(self, token: str) -> bool:
        given = token.encode("utf-8", "surrogateescape")
        matched = False
        for known in self._tokens:
            matched |= hmac.compare_digest(given, known)
        return matched

    def check(self, authorization: str | None) -> None:
        """Raise 401 without a bearer token, 403 with a wrong one."""
        if not self.enabled:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiProblem(
                401, "this request needs Authorization: Bearer <token>", headers=CHALLENGE
            )
        if not self.accepts(token.strip()):
            raise ApiProblem(403, "the token is not accepted", headers=CHALLENGE)


def _tokens(request: Request) -> TokenCheck:
    check: TokenCheck = request.app.state.tokens
    return check


def write_access(request: Request) -> None:
    """A dependency of every mutating route."""
    _tokens(request).check(request.headers.get("authorization"))


def read_access(request: Request) -> None:
    """A dependency of every reading route (open unless CONVNAS_API_READ=token)."""
    check = _tokens(request)
    if check.private_reads:
        check.check(request.headers.get("authorization"))


class BodyTooLarge(ApiProblem):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over this server's limit of {limit:,} bytes")


class BodyLimit:
    """Refuse a body over ``limit`` bytes: by its Content-Length before reading anything, and
    while it streams in (a chunked body, or a length that lies), before it is all held."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            problem: ApiProblem = BodyTooLarge(self.limit)
            if not declared.isdigit():
                problem = ApiProblem(400, "the Content-Length header is not a number")
            response = problem_response(problem.status, problem.detail)
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited, send)


# ------------------------------------------------------------------------------------------
# Host names (DNS rebinding), cross-site requests (CSRF), response headers
# ------------------------------------------------------------------------------------------

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
WILDCARD_BINDS = ("", "0.0.0.0", "::", "[::]")  # noqa: S104 (names to recognise, not to bind)
# The media types a request body may have (a spec's): a cross-site page can send none of them
# without a CORS preflight, which this server never answers, unlike a form or a typeless Blob.
BODY_TYPES = SPEC_TYPES
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a browser says of a request it makes for the server's own pages (same-origin) or for
# the user (none: typed or bookmarked); anything else came from another site's page.
OWN_FETCH_SITES = frozenset({"same-origin", "none"})
# No inline script anywhere; inline style attributes (the SVG charts, ReDoc's and Swagger
# UI's injected styles) are allowed. Blob workers: ReDoc runs its search in one.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def host_name(value: str) -> str:
    """The name part of a Host header or an address: lower case, the port dropped, an IPv6
    literal in brackets (``[::1]:8000`` -> ``[::1]``, ``::1`` -> ``[::1]``)."""
    text = value.strip().lower()
    if text.startswith("["):
        name, bracket, port = text.partition("]")
        # Anything but a port after the bracket: not an address; kept whole, it matches nothing.
        return name + bracket if bracket and (not port or port.startswith(":")) else text
    if text.count(":") > 1:  # a bare IPv6 address, as given to --host
        return f"[{text}]"
    return text.partition(":")[0]


def hosts_for_bind(bind: str) -> list[str]:
    """The names a server listening on ``bind`` answers to by default: the loopback names and
    the bind address; on every interface also this machine's name (a proxy or another name
    needs CONVNAS_ALLOWED_HOSTS; IP addresses are always answered, see HostCheck)."""
    names = list(LOOPBACK_HOSTS)
    extra = socket.gethostname() if bind in WILDCARD_BINDS else bind
    if host_name(extra) not in names:
        names.append(host_name(extra))
    return names


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    await problem_response(status, detail)(scope, receive, send)


class HostCheck:
    """Answer only to the names this server is reached by: a page whose own name resolves to
    127.0.0.1 (DNS rebinding) is refused before it can read or change anything.

    An IP address is always answered: a browser sends one as the Host only for a page whose
    origin is that address, which no other site's page can be (the server builds no URL from
    the Host, so there is nothing to poison either).
    """

    def __init__(self, app: ASGIApp, hosts: Sequence[str]) -> None:
        self.app = app
        self.any = "*" in hosts
        self.hosts = frozenset(host_name(h) for h in hosts if h != "*")

    def answers(self, name: str) -> bool:
        return self.any or name in self.hosts or _is_address(name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.any:
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"host")
        if given is None or not self.answers(host_name(given)):
            shown = "no Host header" if given is None else f"Host {given[:100]!r}"
            detail = f"this server does not answer to {shown} (CONVNAS_ALLOWED_HOSTS)"
            await _refuse(scope, receive, send, 400, detail)
            return
        await self.app(scope, receive, send)


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return True


def cross_site(scope: Scope) -> str | None:
    """Why a browser request is another site's (None: it is not). Fetch metadata when the
    browser sends it (HTTPS and localhost), else the Origin against the Host; a request with
    neither (curl, the CLI) is not a browser's."""
    site = _header(scope, b"sec-fetch-site")
    if site is not None:
        return None if site.lower() in OWN_FETCH_SITES else f"Sec-Fetch-Site: {site[:40]}"
    origin = _header(scope, b"origin")
    if origin is None:
        return None
    netloc = urlsplit(origin).netloc if origin != "null" else ""
    if netloc and _no_default_port(netloc) == _no_default_port(_header(scope, b"host") or ""):
        return None
    return f"Origin: {origin[:100]}"


def _no_default_port(netloc: str) -> str:
    return netloc.lower().removesuffix(":80").removesuffix(":443")


def body_type_problem(scope: Scope) -> str | None:
    """Why a mutation's body is refused for its media type (None: it has none, or JSON/YAML).
    A body must say what it is: a form or a typeless Blob is what another site can send."""
    headers = dict(scope["headers"])
    has_body = headers.get(b"content-length", b"0") not in (b"0", b"") or (
        b"transfer-encoding" in headers
    )
    media = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if not has_body or media in BODY_TYPES:
        return None
    given = f"not {media[:100]}" if media else "a body needs a Content-Type"
    return f"send the body as {' or '.join(BODY_TYPES)} ({given})"


class CrossSiteCheck:
    """CSRF defence that holds without tokens: a mutation from another site's page (a form, a
    no-cors fetch) is refused (403), and a mutation's body must be JSON or YAML (415)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        if (why := cross_site(scope)) is not None:
            detail = f"a change requested by another site's page is refused ({why})"
            await _refuse(scope, receive, send, 403, detail)
        elif (why := body_type_problem(scope)) is not None:
            await _refuse(scope, receive, send, 415, why)
        else:
            await self.app(scope, receive, send)


class SecurityHeaders:
    """Every response: no framing (clickjacking), no MIME sniffing, no referrer, a CSP that
    runs only this server's own scripts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {key.lower() for key, _ in message.get("headers", [])}
                added = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, with_headers)


# ------------------------------------------------------------------------------------------
# A body that arrives too slowly, or not at all
# ------------------------------------------------------------------------------------------


class BodyTimeout(ApiProblem):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            408,
            f"the request body did not arrive within {seconds:g} seconds",
            headers={"Connection": "close"},
        )


class BodyDeadline:
    """A request body must arrive whole within ``seconds`` of the request (a client that
    trickles it, one byte at a time, would hold a connection and a worker for ever)."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        done = False

        async def timed() -> Message:
            nonlocal done
            if done:  # the body is in: later reads wait for a disconnect, with no limit
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
            except TimeoutError:
                raise BodyTimeout(self.seconds) from None
            done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed, send)


async def client_gone(request: Request, exc: Exception) -> Response:
    """A client that went away mid-body: one line in the log, no traceback (nobody is left to
    answer)."""
    log.info(
        "%s %s: the client disconnected before sending its whole body",
        request.method,
        request.url.path,
    )
    return Response(status_code=400)

"""Bearer tokens and the request-body limit.

Tokens are compared with :func:`hmac.compare_digest` against every accepted token (no early
exit), so a response's timing says nothing about how much of a guess was right. Mutations always
need a token when one is configured; reads need one when ``CONVNAS_API_READ=token``.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import ApiProblem, problem_response

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="convnas"'}


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

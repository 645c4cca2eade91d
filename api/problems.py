"""Every error the HTTP API returns, in one shape: problem details (RFC 9457).

``{"type", "title", "status", "detail", "errors": [{path, message, value, line}]}`` served as
``application/problem+json``. Domain errors map here and nowhere else: NotFound 404, Conflict
409, InvalidRequest/SpecError 422 (every problem), request validation 422 (same shape), body
too large 413, auth 401/403, the database or the runs store unreachable 503; anything else is a
500 that is logged with its traceback and tells the client nothing internal.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from search.service import (
    Conflict,
    DatabaseError,
    NotFound,
    ProblemOut,
    SchemaLockTimeout,
    StorageUnavailable,
)
from space.errors import RENDER_LIMIT, Problem, SpecError, capped, echo, more_problems, short_repr

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 5
# A database that stops answering mid-request (server down, connections refused, a pool that
# cannot hand out a connection): the driver's errors, which no service function wraps.
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)
log = logging.getLogger("convnas.api")


class ProblemDetails(BaseModel):
    """An error (RFC 9457 problem details); ``errors`` lists field problems (422)."""

    type: str = Field(default="about:blank", description="A URI naming the problem type")
    title: str = Field(description="The HTTP status phrase")
    status: int
    detail: str = Field(description="What went wrong, for a person")
    errors: list[ProblemOut] | None = Field(
        default=None, description="Every field problem (path, message, value, line)"
    )


class ApiProblem(Exception):
    """An HTTP error raised by the API layer itself (auth, body size, media type)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[ProblemOut] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = headers


def problem_response(
    status: int,
    detail: str,
    errors: Sequence[ProblemOut] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ProblemDetails(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        errors=list(errors) if errors is not None else None,
    )
    data = body.model_dump(mode="json", exclude={"errors"})
    if errors is not None:
        # A problem's value is kept even when it is null ("got None"); absent when it has none.
        data["errors"] = [e.model_dump(mode="json", exclude_unset=True) for e in errors]
    return JSONResponse(
        data,
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def problems_out(problems: Sequence[Problem]) -> list[ProblemOut]:
    """The problems a response lists: the first 50, values cut to 200 characters (a response
    stays small however many problems, or however large a value, a request holds)."""
    return [ProblemOut.model_validate(p.to_dict()) for p in capped(problems)]


def _count(n: int) -> str:
    return f"{n} problem" + ("s" if n != 1 else "")


async def _api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(exc.status, exc.detail, exc.errors, exc.headers)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(404, str(exc))


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(409, str(exc))


async def _spec_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SpecError)
    errors = problems_out(exc.problems)
    return problem_response(422, f"the request has {_count(len(exc.problems))}", errors)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    found = exc.errors()
    errors = [_field_problem(error) for error in found[:RENDER_LIMIT]]
    if len(found) > RENDER_LIMIT:
        errors += problems_out([more_problems(len(found) - RENDER_LIMIT)])
    return problem_response(422, f"the request has {_count(len(found))}", errors)


def _field_problem(error: dict[str, Any]) -> ProblemOut:
    # ("query", "limit") -> "limit": parameters are named as the service names them.
    loc = [str(part) for part in error.get("loc", ()) if part not in ("query", "path", "body")]
    value = error.get("input")
    return ProblemOut(
        path=".".join(loc), message=str(error.get("msg", "invalid")), value=_safe(value)
    )


def _safe(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return echo(value)
    return short_repr(value)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(exc.status_code, str(exc.detail), headers=headers)


async def _database(request: Request, exc: Exception) -> JSONResponse:
    # The driver's text names hosts, ports and databases: the log has it, a client does not.
    reason = str(exc).splitlines()[0] if str(exc) else ""
    log.warning(
        "database unavailable on %s %s: %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        reason,
    )
    return problem_response(
        503,
        "the database is unavailable; try again later (the server log has the reason)",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _storage(request: Request, exc: Exception) -> JSONResponse:
    # Like the database's: the store's text names buckets and endpoints, which stay in the log.
    log.warning("runs store unavailable on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(
        503,
        "the runs store (where trials keep their weights) is unavailable; try again later "
        "(the server log has the reason)",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem_response(500, "an unexpected error occurred; the server log has the details")


def install(app: FastAPI) -> None:
    """Register the one mapping from errors to responses."""
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(SpecError, _spec_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DatabaseError, _database)
    app.add_exception_handler(SchemaLockTimeout, _database)  # another process migrating
    app.add_exception_handler(StorageUnavailable, _storage)
    for error in UNAVAILABLE:
        app.add_exception_handler(error, _database)
    app.add_exception_handler(Exception, _unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route's error statuses, each a problem document."""
    return {
        status: {
            "model": ProblemDetails,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {}},
        }
        for status in statuses
    }

"""The HTTP API: ``create_app(settings)`` builds the FastAPI application.

JSON under ``/api/v1`` on the service layer (:mod:`search.service`); OpenAPI at ``/docs``,
``/redoc`` and ``/openapi.json`` (:mod:`api.openapi`); every error a problem document
(:mod:`api.problems`); the host, cross-site, body and header rules in :mod:`api.security`. The
web process never imports torch, Ray or the driver (an import-linter contract holds it to
that): submitting only queues a search, which a runner (``convnas runner``) executes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.requests import ClientDisconnect

from api import methods, openapi, problems
from api.deps import EngineHolder, no_nul
from api.routes import charts, health, metrics, notes, presets, searches, spaces, trials
from api.security import (
    LOOPBACK_HOSTS,
    BodyDeadline,
    BodyLimit,
    CrossSiteCheck,
    HostCheck,
    SecurityHeaders,
    TokenCheck,
    client_gone,
)
from api.settings import ApiSettings, get_api_settings
from api.telemetry import RequestLatency, Telemetry
from api.web import install as install_pages

API_PREFIX = "/api/v1"
DESCRIPTION = """\
Launch, watch, cancel, browse and export ConvRNN architecture searches.

A search is addressed by its id or by its name (the latest of that name). Every error is an
RFC 9457 problem document (`application/problem+json`); a 422 lists every field problem with its
path, value and, for YAML, line. Mutations need `Authorization: Bearer <token>` when the server
has tokens (reads too when `CONVNAS_API_READ=token`, this document and /docs included).

Whatever the tokens, a browser cannot be made to act for another site: a change requested by
another site's page (by `Origin` or `Sec-Fetch-Site`) is refused with 403, a request body must
be JSON or YAML (415 otherwise, a missing `Content-Type` included), and the `Host` must be one
of the server's names (400; `CONVNAS_ALLOWED_HOSTS`).
"""


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The application for ``settings`` (default: from the environment)."""
    settings = settings or get_api_settings()
    holder = EngineHolder(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        holder.dispose()

    app = FastAPI(
        title="convnas",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(no_nul)],
        # api.openapi serves these itself: under the read policy, with no CDN.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = holder
    app.state.tokens = TokenCheck(settings.tokens(), private_reads=settings.api_read == "token")
    problems.install(app)
    app.add_exception_handler(ClientDisconnect, client_gone)
    for module in (searches, trials, notes, charts, spaces, presets, health):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(metrics.router)  # /metrics, where Prometheus looks by default
    install_pages(app)  # the web pages at /, their assets at /static
    openapi.install(app)
    _middleware(app, settings)
    return app


def _middleware(app: FastAPI, settings: ApiSettings) -> None:
    """The checks every request passes, outermost first: security headers on every answer,
    the Host, HEAD as GET, cross-site and media type, then the body's size and deadline."""
    app.add_middleware(BodyDeadline, seconds=settings.body_timeout)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(CrossSiteCheck)
    methods.install(app)
    app.add_middleware(HostCheck, hosts=settings.allowed_hosts or LOOPBACK_HOSTS)
    app.add_middleware(SecurityHeaders)
    # Outermost: every answer is timed, the refusals of the checks above too.
    app.state.telemetry = Telemetry()
    app.add_middleware(RequestLatency, telemetry=app.state.telemetry)

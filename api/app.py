"""The HTTP API: ``create_app(settings)`` builds the FastAPI application.

JSON under ``/api/v1`` on the service layer (:mod:`search.service`); OpenAPI at ``/docs`` and
``/openapi.json``; every error a problem document (:mod:`api.problems`). The web process never
imports torch, Ray or the driver (an import-linter contract holds it to that): submitting only
queues a search, which a runner (``convnas runner``) executes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from api import problems
from api.deps import EngineHolder, no_nul
from api.routes import charts, health, presets, searches, spaces, trials
from api.security import BodyLimit, TokenCheck
from api.settings import ApiSettings, get_api_settings
from api.web import install as install_pages
from space.spec import SearchSpec

API_PREFIX = "/api/v1"
DESCRIPTION = """\
Launch, watch, cancel, browse and export ConvRNN architecture searches.

A search is addressed by its id or by its name (the latest of that name). Every error is an
RFC 9457 problem document (`application/problem+json`); a 422 lists every field problem with its
path, value and, for YAML, line. Mutations need `Authorization: Bearer <token>` when the server
has tokens (reads too when `CONVNAS_API_READ=token`).
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
    )
    app.state.settings = settings
    app.state.engine = holder
    app.state.tokens = TokenCheck(settings.tokens(), private_reads=settings.api_read == "token")
    problems.install(app)
    for module in (searches, trials, charts, spaces, presets, health):
        app.include_router(module.router, prefix=API_PREFIX)
    install_pages(app)  # the web pages at /, their assets at /static
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the spec format's, which the spec bodies refer to (they are read
    raw, so FastAPI cannot infer it)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        spec = SearchSpec.model_json_schema(
            by_alias=True, ref_template="#/components/schemas/Spec{model}"
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update({f"Spec{name}": d for name, d in spec.pop("$defs", {}).items()})
        components["SearchSpec"] = spec
        app.openapi_schema = schema
    return app.openapi_schema

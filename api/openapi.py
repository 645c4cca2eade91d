"""The OpenAPI document as the server answers, and its two readers (Swagger UI, ReDoc) served
from the installed ``fastapi-offline`` package: nothing is loaded from the internet, and no
script but the server's own runs on the origin where the pages keep the token.

FastAPI documents its own 422 (``HTTPValidationError``) and nothing the middleware answers;
:func:`openapi_schema` documents every error as the problem document it is, and the statuses
that the host, cross-site, body and database checks add. ``/docs``, ``/redoc`` and
``/openapi.json`` are reads: with ``CONVNAS_API_READ=token`` they need the token too (so a
plain browser tab cannot open them; fetch the document with the token instead).
"""

from __future__ import annotations

from http import HTTPStatus
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.staticfiles import StaticFiles

from api.deps import get_engine
from api.problems import PROBLEM_JSON
from api.security import read_access
from space.spec import SearchSpec

ASSETS = "docs-assets"
PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")
MUTATIONS = ("post", "put", "patch", "delete")
# What the middleware may answer besides each route's own statuses (api.security).
EVERY_OPERATION = {400: "A Host this server does not answer to, or a bad Content-Length"}
EVERY_MUTATION = {
    403: "Requested by another site's page (CSRF), or the token is not accepted",
    408: "The body did not arrive in time (CONVNAS_BODY_TIMEOUT)",
    413: "The body is over CONVNAS_MAX_BODY_BYTES",
    415: "A body that is not JSON or YAML",
}
DATABASE = {503: "The database is unavailable"}
# Headers that come with some problems: what a client is to do next.
PROBLEM_HEADERS = {
    "401": {"WWW-Authenticate": 'Bearer realm="convnas": send a token'},
    "503": {"Retry-After": "Seconds to wait before trying again"},
}


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema with the spec format's (the spec bodies are read raw, so FastAPI cannot
    infer it) and every error response as the server sends it."""
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
        database = _database_operations(app)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                _errors(operation, method, (path, method) in database)
        for name in FASTAPI_ERRORS:  # nothing refers to them any more
            components.pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema


def _errors(operation: dict[str, Any], method: str, uses_database: bool) -> None:
    """Every 4xx and 5xx of ``operation`` as a problem document, the middleware's included."""
    responses = operation.setdefault("responses", {})
    extra = {**EVERY_OPERATION, **(EVERY_MUTATION if method in MUTATIONS else {})}
    extra |= DATABASE if uses_database else {}
    for status, description in extra.items():
        responses.setdefault(str(status), {"description": description})
    for status, response in responses.items():
        if status[0] in "45" and _is_problem(response):
            response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
            response.setdefault("description", HTTPStatus(int(status)).phrase)
            for name, said in PROBLEM_HEADERS.get(status, {}).items():
                headers = response.setdefault("headers", {})
                headers[name] = {"description": said, "schema": {"type": "string"}}


def _is_problem(response: dict[str, Any]) -> bool:
    """Whether a response is (or is documented by FastAPI in place of) a problem document: a
    response with a body of its own, such as /health's 503, is left as it is."""
    refs = {
        body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
        for body in response.get("content", {}).values()
    }
    return refs <= {"", "ProblemDetails", "HTTPValidationError"}


def _database_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of every operation that reads or writes the database (503 when down)."""
    found = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema and _calls(route.dependant):
            methods = route.methods or set()
            found |= {(str(context.path_format), method.lower()) for method in methods}
    return found


def _calls(dependant: Dependant) -> bool:
    return dependant.call is get_engine or any(_calls(d) for d in dependant.dependencies)


SWAGGER = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{css}">
<link rel="icon" href="{icon}">
</head>
<body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """Serve ``/openapi.json``, ``/docs`` and ``/redoc`` (reads: the read policy applies) and
    the readers' assets (public code, open to all)."""
    app.openapi = lambda: openapi_schema(app)  # type: ignore[method-assign]
    app.mount(f"/{ASSETS}", StaticFiles(directory=str(files("fastapi_offline") / "static")),
              name=ASSETS)  # fmt: skip
    router = APIRouter(include_in_schema=False, dependencies=[Depends(read_access)])

    @router.get("/openapi.json")
    def document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @router.get("/docs", response_class=HTMLResponse)
    def swagger(request: Request) -> str:
        # Swagger UI is started by a script file of ours: the CSP runs no inline script.
        return SWAGGER.format(
            title=f"{app.title} API",
            css=_asset(request, "swagger-ui.css"),
            icon=_asset(request, "favicon.png"),
            bundle=_asset(request, "swagger-ui-bundle.js"),
            init=request.url_for("static", path="swagger-init.js").path,
            openapi=request.url_for("document").path,
        )

    @router.get("/redoc", response_class=HTMLResponse)
    def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=request.url_for("document").path,
            title=f"{app.title} API",
            redoc_js_url=_asset(request, "redoc.standalone.js"),
            redoc_favicon_url=_asset(request, "favicon.png"),
            with_google_fonts=False,
        )

    app.include_router(router)


def _asset(request: Request, name: str) -> str:
    return str(request.url_for(ASSETS, path=name).path)

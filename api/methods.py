"""HTTP methods beyond each route's own: HEAD wherever GET is, OPTIONS everywhere, and a 405
whose ``Allow`` header lists every method of the path (Starlette lists only the first route's,
and FastAPI's routes answer HEAD with a 405).
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.routing import iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response

ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class HeadAsGet:
    """HEAD answered as GET is, without the body (the headers, Content-Length included, are
    GET's, as HTTP asks)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def allowed(request: Request) -> list[str]:
    """Every method some route of this path answers (HEAD with GET, OPTIONS always)."""
    path = route_path(request.scope)
    methods = {"OPTIONS"}
    for route in iter_route_contexts(request.app.routes):
        pattern = getattr(route, "path_regex", None)
        if pattern is not None and pattern.match(path):
            # A route without methods is a mount: the static files, which answer GET.
            methods |= route.methods or {"GET"}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods, key=lambda m: (ORDER.index(m) if m in ORDER else len(ORDER), m))


def route_path(scope: Scope) -> str:
    """The path the app's routes match (inside a mount, root_path is the mount's; the app's
    own is kept as app_root_path)."""
    path: str = scope["path"]
    root: str = scope.get("app_root_path", scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    """405 with the path's real methods; OPTIONS is answered (204) with the same list."""
    allow = {"Allow": ", ".join(allowed(request))}
    if request.method == "OPTIONS":
        return Response(status_code=204, headers=allow)
    detail = f"{request.method} is not allowed here; this path answers {allow['Allow']}"
    return problem_response(405, detail, headers=allow)


def install(app: FastAPI) -> None:
    """HEAD and OPTIONS for every path, and the 405 with the right ``Allow``."""
    app.add_exception_handler(405, method_not_allowed)
    app.add_middleware(HeadAsGet)

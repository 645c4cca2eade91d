"""The page routes: the searches list, one search's leaderboard, one trial."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from api.deps import MAX_ID, SPEC_YAML_EXAMPLE, get_engine
from api.web import format as fmt
from api.web.compare_view import comparison, parse_refs
from api.web.search_view import best_plot, cells_plot, front_plot, neural_axis
from api.web.trial_view import trial_context
from search import service
from search.service import MAX_PARAM_FILTERS, InvalidRequest, NotFound, SearchOut, TrialQuery
from space.arch import CELL_KINDS
from space.status import SearchStatus, TrialStatus
from space.trial_fields import FIELDS

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(fmt.FILTERS)


class PageRoute(APIRoute):
    """A page's errors answer with the HTML error page, not the API's JSON problem: its own
    parameters that do not parse (``?offset=x``, ``/trials/abc``), and every error the app maps
    to a problem (a database that is down: 503), with that problem's status and detail."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = exc.errors()
                if any(error.get("loc", ("",))[0] == "path" for error in errors):
                    return _error(request, 404, "Not found", f"no page at {request.url.path}")
                return _error(request, 422, "Bad request", _validation_text(errors))
            except Exception as exc:
                if (mapped := _problem_handler(request, exc)) is None:
                    raise  # unexpected: the app's 500, logged with its traceback
                problem = await mapped(request, exc)  # logged as the API logs it
                detail = json.loads(bytes(problem.body))["detail"]
                status = problem.status_code
                return _error(request, status, HTTPStatus(status).phrase, detail, problem.headers)

        return page


def _problem_handler(request: Request, exc: Exception) -> Any:
    """The app's handler for ``exc`` (None for the catch-all: an unexpected error)."""
    for kind in type(exc).__mro__:
        if kind is Exception:
            return None
        if kind in request.app.exception_handlers:
            return request.app.exception_handlers[kind]
    return None


router = APIRouter(
    include_in_schema=False, default_response_class=HTMLResponse, route_class=PageRoute
)

PAGE = 50
SEARCHES_PAGE = 50
# Leaderboard columns: the trial fields with a heading, in the table of fields' order; the
# optional ones only when the page has them (its shown_columns()).
COLUMNS = tuple(f for f in FIELDS if f.label)
# How a cell shows its value, by the field's kind (the rest: as text); rank, trial, status,
# pareto and cells have their own markup in search.html.
_SHOW: dict[str, Callable[[Any], str]] = {
    "score": fmt.accuracy, "count": fmt.number, "bytes": fmt.size,
    "seconds": fmt.duration, "share": fmt.number, "integer": str,
}  # fmt: skip
STATUS_FILTERS = ("completed", "all", *(s.value for s in TrialStatus if s != "completed"))
CELL_FILTERS = ("", *CELL_KINDS, "none")
LIVE = (SearchStatus.QUEUED, SearchStatus.RUNNING)

Engine_ = Annotated[Engine, Depends(get_engine)]


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    tokens = request.app.state.tokens
    base = {"auth": tokens.enabled, "api": "/api/v1"}
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status)


def _error(request: Request, status: int, title: str, detail: str, headers: Any = None) -> Response:
    page = _page(request, "error.html", {"title": title, "detail": detail}, status)
    for name in ("retry-after", "www-authenticate"):  # what the client is to do next
        if headers is not None and name in headers:
            page.headers[name] = headers[name]
    return page


def _guarded(request: Request) -> Any | None:
    """The pages render data on the server: with private reads they would need the token on
    every navigation, which a page cannot send, so they say so instead (the API still works)."""
    if request.app.state.tokens.private_reads:
        return _error(
            request, 401, "Reads need a token",
            "This server keeps reads private (CONVNAS_API_READ=token); the web pages are off. "
            "Use the JSON API under /api/v1 with Authorization: Bearer <token>.",
        )  # fmt: skip
    return None


def _problem_text(exc: InvalidRequest) -> str:
    return "; ".join(f"{p.path}: {p.message}" if p.path else p.message for p in exc.problems)


def _validation_text(errors: Sequence[Any]) -> str:
    return "; ".join(f"{error['loc'][-1]}: {error['msg']}" for error in errors)


@router.get("/", name="web_searches")
def searches_page(request: Request, engine: Engine_, offset: int = 0) -> Any:
    if (refused := _guarded(request)) is not None:
        return refused
    try:
        page = service.list_searches(engine, limit=SEARCHES_PAGE, offset=offset)
    except InvalidRequest as exc:
        return _error(request, 422, "Bad request", _problem_text(exc))
    rows = [(s, fmt.span(s.started_at, s.finished_at)) for s in page.items]
    return _page(
        request,
        "searches.html",
        {"page": page, "rows": rows, "pager": _pager(page.total, offset, SEARCHES_PAGE, {})},
    )


@router.get("/searches/new", name="web_launch")
def launch_page(request: Request) -> Any:
    """The launch form (a search named "new" is still reachable by its id)."""
    if (refused := _guarded(request)) is not None:
        return refused
    return _page(request, "launch.html", {"example": SPEC_YAML_EXAMPLE})


@dataclass
class BoardArgs:
    """A leaderboard page's query, as its links and its form write it (the form writes its
    parameter filters space-separated in one field: no label holds a space)."""

    sort: str | None = None
    status: str | None = None
    cell_kind: str | None = None
    param: Annotated[list[str] | None, Query(max_length=MAX_PARAM_FILTERS)] = None
    offset: int = 0


Board = Annotated[BoardArgs, Depends()]


@router.get("/searches/{ref}", name="web_search")
def search_page(request: Request, engine: Engine_, ref: str, args: Board) -> Any:
    if (refused := _guarded(request)) is not None:
        return refused
    try:
        search = service.get_search(engine, _ref(ref))
        board = _board(engine, search, args)
        front = service.pareto(engine, search.id)
        charts = service.search_charts(engine, search.id)
    except NotFound as exc:
        return _error(request, 404, "Not found", str(exc))
    except InvalidRequest as exc:
        return _error(request, 422, "Bad request", _problem_text(exc))
    neural = neural_axis(search, charts)
    return _page(
        request,
        "search.html",
        {
            **board,
            "duration": fmt.span(search.started_at, search.finished_at),
            "live": search.status in LIVE,
            "plot": front_plot(search.id, front, board["board"], neural),
            "plot_neural": neural,
            "best_plot": best_plot(charts),
            "cells_plot": cells_plot(charts),
            "completed": charts.completed,
        },
    )


@router.get("/searches/{ref}/board", name="web_board")
def board_fragment(request: Request, engine: Engine_, ref: str, args: Board) -> Any:
    """The leaderboard alone (the search page's own markup): what brushing a plot, the filter
    form and the live view swap in without reloading the page."""
    if (refused := _guarded(request)) is not None:
        return refused
    try:
        search = service.get_search(engine, _ref(ref))
        board = _board(engine, search, args)
    except NotFound as exc:
        return _error(request, 404, "Not found", str(exc))
    except InvalidRequest as exc:
        return _error(request, 422, "Bad request", _problem_text(exc))
    return _page(request, "_board.html", board)


def _board(engine: Engine, search: SearchOut, args: BoardArgs) -> dict[str, Any]:
    """A leaderboard page of ``search`` and what its markup shows: the columns with their sort
    links, the filters kept in every link, the pager."""
    params = tuple(part for text in args.param or () for part in text.split())
    query = TrialQuery(
        sort=args.sort or None, status=args.status or None, cell_kind=args.cell_kind or None,
        param=params, limit=PAGE, offset=args.offset,
    )  # fmt: skip
    board = service.trials(engine, search.id, query)
    kept: dict[str, Any] = {
        "status": args.status or "", "cell_kind": args.cell_kind or "", "param": params
    }  # fmt: skip
    return {
        "search": search,
        "board": board,
        "columns": _headers(board.sort, kept, board.shown_columns()),
        "kept": kept,
        "status_filters": STATUS_FILTERS,
        "cell_filters": CELL_FILTERS,
        "pager": _pager(board.total, args.offset, PAGE, {"sort": board.sort, **kept}),
        "export_query": _query(kept),
    }


@router.get("/searches/{ref}/trials/{number}", name="web_trial")
def trial_page(request: Request, engine: Engine_, ref: str, number: int) -> Any:
    if (refused := _guarded(request)) is not None:
        return refused
    try:
        if not 0 <= number <= MAX_ID:
            raise NotFound(f"no trial {number}")
        search = service.get_search(engine, _ref(ref))
        detail = service.trial(engine, search.id, number)
    except NotFound as exc:
        return _error(request, 404, "Not found", str(exc))
    return _page(request, "trial.html", {"search": search, **trial_context(detail)})


@router.get("/compare", name="web_compare")
def compare_page(
    request: Request, engine: Engine_, t: Annotated[list[str] | None, Query()] = None
) -> Any:
    """Trials side by side: ``?t=3/17&t=3/4`` (search/number, 2 to 4 of them)."""
    if (refused := _guarded(request)) is not None:
        return refused
    try:
        shown = []
        for i, (search_ref, number) in enumerate(parse_refs(t or [])):
            search = service.get_search(engine, _ref(search_ref))
            detail = service.trial(engine, search.id, number)
            shown.append({"search": search, **trial_context(detail, f"c{i}")})
    except NotFound as exc:
        return _error(request, 404, "Not found", str(exc))
    except InvalidRequest as exc:
        return _error(request, 422, "Bad request", _problem_text(exc))
    rows = comparison([item["trial"] for item in shown])
    return _page(request, "compare.html", {"shown": shown, "rows": rows})


def _ref(ref: str) -> str:
    text = ref.strip()
    if text.isdigit() and (not text.isascii() or int(text) > MAX_ID):
        raise NotFound(f"no search with id {text}")
    return text


def _query(values: dict[str, Any]) -> str:
    """A link's query: the values set (a list repeats its name)."""
    return urlencode({k: v for k, v in values.items() if v}, doseq=True)


def _headers(sort: str, kept: dict[str, Any], shown: Sequence[str]) -> list[dict[str, Any]]:
    """Each shown column's heading, its sort link (a click on the sorted column reverses it),
    the aria-sort state and how its cells show their values."""
    key, descending = sort.lstrip("+-"), sort.startswith("-")
    out = []
    for f in COLUMNS:
        if f.optional and f.name not in shown:
            continue
        head: dict[str, Any] = {"field": f.name, "label": f.label, "href": None, "aria": None}
        head["show"] = _SHOW.get(f.kind)
        if f.key is not None:
            natural = "-" if f.goal == "max" else "+"
            if f.key == key:
                head["aria"] = "descending" if descending else "ascending"
                natural = "+" if descending else "-"
            head["href"] = "?" + _query({"sort": natural + f.key, **kept})
        out.append(head)
    return out


def _pager(total: int, offset: int, size: int, kept: dict[str, Any]) -> dict[str, Any]:
    def link(at: int) -> str:
        return "?" + _query({**kept, "offset": at})

    last = max((total - 1) // size * size, 0)
    return {
        "first": offset + 1 if total else 0,
        "last": min(offset + size, total),
        "total": total,
        "prev": link(max(offset - size, 0)) if offset > 0 else None,
        "next": link(offset + size) if offset + size < total else None,
        "start": link(0) if offset > 0 else None,
        "end": link(last) if offset + size < total else None,
    }

"""Searches: submit, list, get, cancel, resume, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from api.deps import (
    BODY_SOURCE,
    SPEC_BODY,
    Engine_,
    Limit,
    Offset,
    Ref,
    Settings_,
    SpecBody_,
    one_of,
    parse_spec,
)
from api.problems import responses
from api.security import read_access, write_access
from search import service
from search.service import ActionOut, InvalidRequest, SearchOut, SearchPage, policy_problems
from space.status import SearchStatus

router = APIRouter(prefix="/searches", tags=["searches"])


class Links(BaseModel):
    self: str
    trials: str
    export: str


class SearchCreated(SearchOut):
    """The queued search, with where to find it."""

    links: Links


CREATED: dict[str, Any] = {
    "description": "Queued",
    "headers": {"Location": {"description": "The search's URL", "schema": {"type": "string"}}},
}


def links(request: Request, search_id: int) -> Links:
    base = str(request.url_for("get_search", ref=str(search_id)).path)
    return Links(self=base, trials=f"{base}/trials", export=f"{base}/export")


@router.post(
    "",
    status_code=201,
    response_model=SearchCreated,
    dependencies=[Depends(write_access)],
    responses={201: CREATED, **responses(401, 403, 413, 415, 422)},
    openapi_extra=SPEC_BODY,
    summary="Submit a search (queued for a runner)",
)
def submit_search(
    request: Request, response: Response, engine: Engine_, settings: Settings_, body: SpecBody_
) -> SearchCreated:
    spec = parse_spec(body)
    # Limits and data roots before the dataset check: that check reads the server's disk.
    problems = policy_problems(spec, settings.limits(), settings.resolved_roots())
    if problems:
        raise InvalidRequest(problems)
    # The roots are stored with the search: its workers confine every file to them again.
    out = service.submit(engine, spec, source=BODY_SOURCE, data_roots=settings.resolved_roots())
    made = links(request, out.id)
    response.headers["Location"] = made.self
    return SearchCreated(**out.model_dump(), links=made)


@router.get(
    "",
    response_model=SearchPage,
    dependencies=[Depends(read_access)],
    responses=responses(401, 403, 422),
    summary="List searches, newest first",
)
def list_searches(
    engine: Engine_,
    status: Annotated[str | None, one_of(SearchStatus, "Only searches in this status")] = None,
    name: Annotated[str | None, Query(description="Only searches of this name")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SearchPage:
    return service.list_searches(engine, status=status, name=name, limit=limit, offset=offset)


@router.get(
    "/{ref}",
    response_model=SearchOut,
    dependencies=[Depends(read_access)],
    responses=responses(401, 403, 404),
    summary="One search with its progress",
)
def get_search(engine: Engine_, ref: Ref) -> SearchOut:
    return service.get_search(engine, ref)


@router.post(
    "/{ref}/cancel",
    response_model=ActionOut,
    dependencies=[Depends(write_access)],
    responses=responses(401, 403, 404),
    summary="Cancel a search (a running one stops its trials)",
)
def cancel_search(engine: Engine_, ref: Ref) -> ActionOut:
    return service.cancel(engine, ref)


@router.post(
    "/{ref}/resume",
    response_model=ActionOut,
    dependencies=[Depends(write_access)],
    responses=responses(401, 403, 404, 409),
    summary="Queue a stopped search again for a runner",
)
def resume_search(
    engine: Engine_,
    ref: Ref,
    force: Annotated[
        bool, Query(description="Resume even though its driver's heartbeat is fresh")
    ] = False,
) -> ActionOut:
    return service.resume(engine, ref, force=force)


@router.delete(
    "/{ref}",
    response_model=ActionOut,
    dependencies=[Depends(write_access)],
    responses=responses(401, 403, 404, 409),
    summary="Delete a search, its trials and its Optuna study (409 while running)",
)
def delete_search(engine: Engine_, ref: Ref) -> ActionOut:
    return service.delete(engine, ref)

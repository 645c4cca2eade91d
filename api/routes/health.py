"""Whether the service works: database, schema revision, runners."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from api.deps import EngineHolder
from api.problems import responses
from api.security import read_access
from search import service
from search.service import DatabaseError, HealthOut, SchemaLockTimeout

router = APIRouter(tags=["health"], dependencies=[Depends(read_access)])


@router.get(
    "/health",
    response_model=HealthOut,
    responses={
        503: {"model": HealthOut, "description": "Not ok (the body says why)"},
        **responses(401, 403),
    },
    summary="Database reachable, migrations current, runners and their heartbeat ages",
)
def get_health(request: Request, response: Response) -> HealthOut:
    holder: EngineHolder = request.app.state.engine
    try:
        out = service.health(holder.get())
    except (DatabaseError, SchemaLockTimeout) as exc:
        out = service.unreachable(exc)
    if not out.ok:
        response.status_code = 503
    return out

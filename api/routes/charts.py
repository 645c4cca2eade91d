"""What a search's charts draw: best-so-far and per-cell-kind accuracy, and parameter
importance (its own route: it may take a moment, so the page fetches it after loading)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import Engine_, Ref
from api.problems import responses
from api.security import read_access
from search import service
from search.service import ImportanceOut, SearchCharts

router = APIRouter(prefix="/searches/{ref}", tags=["charts"], dependencies=[Depends(read_access)])


@router.get(
    "/charts",
    response_model=SearchCharts,
    responses=responses(401, 403, 404),
    summary="Best value so far per trial (improvements only) and accuracy per cell kind",
)
def charts(engine: Engine_, ref: Ref) -> SearchCharts:
    return service.search_charts(engine, ref)


@router.get(
    "/importance",
    response_model=ImportanceOut,
    responses=responses(401, 403, 404),
    summary="Parameter importance for the first objective (ready=false with a reason until "
    "enough trials completed)",
)
def importance(engine: Engine_, ref: Ref) -> ImportanceOut:
    return service.importance(engine, ref)

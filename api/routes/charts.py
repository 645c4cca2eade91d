"""What a search's charts draw: best-so-far and per-cell-kind accuracy, and parameter
importance (its own route: it may take a moment, so the page fetches it after loading)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from api.deps import Engine_, Ref
from api.problems import responses
from api.security import read_access
from search import service
from search.service import (
    ContourOut,
    ConvRNNViews,
    CurvesOut,
    ExploreOut,
    ImportanceOut,
    SearchCharts,
)

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


@router.get(
    "/plots/trials",
    response_model=ExploreOut,
    responses=responses(401, 403, 404),
    summary="The trials column-wise for the interactive plots (sampled values, objectives, "
    "status, node, times; at most 4,000 trials: the best, the running and an even spread) "
    "and the first objective's EDF",
)
def plot_trials(engine: Engine_, ref: Ref) -> ExploreOut:
    return service.explore(engine, ref)


@router.get(
    "/plots/curves",
    response_model=CurvesOut,
    responses=responses(401, 403, 404, 422),
    summary="Validation accuracy per epoch of the running trials, the best and an even spread "
    "of the rest (at most 300); status=running: the running trials only",
)
def plot_curves(
    engine: Engine_, ref: Ref, status: Annotated[Literal["running"] | None, Query()] = None
) -> CurvesOut:
    return service.curves(engine, ref, status)


Label = Annotated[str, Query(min_length=1, max_length=500, description="A searched parameter")]


@router.get(
    "/plots/contour",
    response_model=ContourOut,
    responses=responses(401, 403, 404, 422),
    summary="The first objective's mean on a 16 x 16 grid over two parameters (one cell per "
    "choice), over every completed trial",
)
def plot_contour(engine: Engine_, ref: Ref, x: Label, y: Label) -> ContourOut:
    return service.contour(engine, ref, x, y)


@router.get(
    "/plots/convrnn",
    response_model=ConvRNNViews,
    responses=responses(401, 403, 404),
    summary="The feedback-edge map and the RGC switches (use by the top 10% against all "
    "completed trials, the objective with and without) and the best trials' accuracy per "
    "unroll step",
)
def plot_convrnn(engine: Engine_, ref: Ref) -> ConvRNNViews:
    return service.convrnn_views(engine, ref)

"""A search's trials: the leaderboard (JSON pages or a CSV stream), the Pareto front, one
trial, and export (the document, or the trained weights file)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response, StreamingResponse

from api.deps import MAX_ID, Engine_, Limit, Offset, Ref, one_of
from api.problems import responses
from api.security import read_access
from search import service
from search.service import (
    MAX_AMOUNT,
    MAX_PARAM_FILTERS,
    SORT_COLUMNS,
    LeaderboardPage,
    TrialDetail,
    TrialQuery,
    trials_csv,
)
from space.arch import CELL_KINDS
from space.status import TrialStatus

router = APIRouter(prefix="/searches/{ref}", tags=["trials"], dependencies=[Depends(read_access)])
MEDIA = {"yaml": "application/yaml", "json": "application/json"}
# The bounds of a page and of the ranges are the service's (its leaderboard's check_page):
# the same rule and message for every way in; documented here.
Amount = Annotated[int | None, Query(json_schema_extra={"minimum": 0, "maximum": MAX_AMOUNT})]
STATUS = "|".join(TrialStatus)
SORT = "|".join(SORT_COLUMNS)
TrialNumber = Annotated[int | None, Query(ge=0, le=MAX_ID, description="Default: the best")]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "The page, or every row as CSV"}
}


@router.get(
    "/trials",
    response_model=LeaderboardPage,
    responses={**CSV_RESPONSE, **responses(401, 403, 404, 422)},
    summary="The leaderboard: trials best first (format=csv streams every matching row)",
)
def list_trials(
    engine: Engine_,
    ref: Ref,
    sort: Annotated[
        str | None,
        Query(
            description="A metric; +name ascending, -name descending (default: objective)",
            json_schema_extra={"pattern": f"^[+-]?({SORT})$"},
        ),
    ] = None,
    status: Annotated[
        str | None,
        Query(
            description="completed (default), a comma list, or all",
            json_schema_extra={"pattern": f"^(all|({STATUS})(,({STATUS}))*)$"},
        ),
    ] = None,
    pareto: Annotated[bool, Query(description="Only Pareto-optimal trials")] = False,
    limit: Limit = 50,
    offset: Offset = 0,
    params_min: Amount = None,
    params_max: Amount = None,
    flops_min: Amount = None,
    flops_max: Amount = None,
    cell_kind: Annotated[
        str | None, one_of(CELL_KINDS, "Only archs using this cell kind (none: feedforward)")
    ] = None,
    param: Annotated[
        list[str] | None,
        Query(
            description="A filter on a sampled value, repeatable (all must hold): "
            "LABEL:LOW..HIGH (numbers, inclusive, either end optional) or LABEL=V1,V2",
            max_length=MAX_PARAM_FILTERS,
        ),
    ] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> LeaderboardPage | Response:
    query = TrialQuery(
        sort=sort, status=status, pareto=pareto, limit=limit, offset=offset,
        params_min=params_min, params_max=params_max, flops_min=flops_min,
        flops_max=flops_max, cell_kind=cell_kind, param=tuple(param or ()),
    )  # fmt: skip
    if format == "csv":
        # trials_csv checks the search and the query before the first byte is sent.
        rows = trials_csv(engine, ref, query)
        disposition = {"Content-Disposition": 'attachment; filename="trials.csv"'}
        return StreamingResponse(rows, media_type="text/csv", headers=disposition)
    return service.trials(engine, ref, query)


@router.get(
    "/pareto",
    response_model=LeaderboardPage,
    responses=responses(401, 403, 404),
    summary="The Pareto-optimal completed trials",
)
def pareto_front(engine: Engine_, ref: Ref) -> LeaderboardPage:
    return service.pareto(engine, ref)


@router.get(
    "/trials/{number}",
    response_model=TrialDetail,
    responses=responses(401, 403, 404, 422),
    summary="One trial: arch, sampled values, cost, per-epoch metrics, error",
)
def get_trial(
    engine: Engine_, ref: Ref, number: Annotated[int, Path(ge=0, le=MAX_ID)]
) -> TrialDetail:
    return service.trial(engine, ref, number)


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "content": {"application/yaml": {}, "application/json": {}},
            "description": "The export document (arch, preprocessing, provenance)",
        },
        **responses(401, 403, 404, 422),
    },
    summary="Export a trial's architecture (the best trial by default)",
)
def export(
    engine: Engine_,
    ref: Ref,
    format: Annotated[Literal["yaml", "json"], Query()] = "yaml",
    trial: TrialNumber = None,
) -> Response:
    made = service.export(engine, ref, number=trial, fmt=format)
    return Response(made.text, media_type=MEDIA[made.format])


@router.get(
    "/export/weights",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The weights file"},
        **responses(401, 403, 404, 422, 503),
    },
    summary="The trained weights a trial kept (404 if none)",
)
def export_weights(engine: Engine_, ref: Ref, trial: TrialNumber = None) -> StreamingResponse:
    found = service.weights_file(engine, ref, trial)
    headers = {
        "Content-Length": str(found.size),
        "Content-Disposition": _attachment(found.name),
    }
    return StreamingResponse(found.chunks(), media_type="application/octet-stream", headers=headers)


def _attachment(name: str) -> str:
    """As Starlette's FileResponse names a download: RFC 6266's ``filename*`` when quoting
    changes the name."""
    quoted = quote(name)
    if quoted == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename*=utf-8''{quoted}"

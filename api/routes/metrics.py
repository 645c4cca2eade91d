"""``GET /metrics``: Prometheus's scrape of the service (searches, queue, trials, runners,
trial durations) and this process's request latencies; see :mod:`api.telemetry`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import Engine_
from api.problems import responses
from api.security import read_access
from api.telemetry import Telemetry
from search import service

router = APIRouter(tags=["health"], dependencies=[Depends(read_access)])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"},
        **responses(401, 403, 503),
    },
    summary="Searches, queue, trials, runners and request latencies for Prometheus",
)
def scrape(request: Request, engine: Engine_) -> Response:
    telemetry: Telemetry = request.app.state.telemetry
    body = telemetry.render(service.metrics(engine))
    return Response(body, media_type=CONTENT_TYPE_LATEST)

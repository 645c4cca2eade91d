"""Validate a spec without submitting it."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import BODY_SOURCE, SPEC_BODY, Settings_, SpecBody_, parse_spec
from api.problems import problems_out, responses
from api.security import read_access
from search import service
from search.service import ValidationOut, policy_problems
from space.errors import SpecError

router = APIRouter(prefix="/spaces", tags=["spaces"], dependencies=[Depends(read_access)])


@router.post(
    "/validate",
    response_model=ValidationOut,
    responses=responses(401, 403, 413, 415, 422),  # 422: a body that is not UTF-8
    openapi_extra=SPEC_BODY,
    summary="Every problem of a spec (ok=false), or the space's description and size",
)
def validate(settings: Settings_, body: SpecBody_) -> ValidationOut:
    try:
        spec = parse_spec(body)
    except SpecError as exc:
        return ValidationOut(ok=False, errors=problems_out(exc.problems), warnings=[])
    # The server's limits and data roots come first: the dataset check reads the server's disk.
    problems = policy_problems(spec, settings.limits(), settings.resolved_roots())
    if problems:
        return ValidationOut(ok=False, errors=problems_out(problems), warnings=[])
    return service.validate_spec(spec, source=BODY_SOURCE, data_roots=settings.resolved_roots())

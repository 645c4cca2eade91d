"""The shipped reference architectures."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.problems import responses
from api.security import read_access
from search import service
from search.service import PresetDetail, PresetOut

router = APIRouter(prefix="/presets", tags=["presets"], dependencies=[Depends(read_access)])


@router.get(
    "",
    response_model=list[PresetOut],
    responses=responses(401, 403),
    summary="Every preset with its size and cost",
)
def list_presets() -> list[PresetOut]:
    return service.presets()


@router.get(
    "/{name}",
    response_model=PresetDetail,
    responses=responses(401, 403, 404),
    summary="One preset with its architecture and per-layer cost",
)
def get_preset(name: str) -> PresetDetail:
    return service.preset(name)

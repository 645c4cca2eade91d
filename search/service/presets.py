"""The shipped reference architectures, as the public schema."""

from __future__ import annotations

from search.errors import NotFound
from search.service.schemas import PresetDetail, PresetOut
from space.cost import ArchCost, cost
from space.errors import SpecError
from space.presets import PresetInfo, list_presets, load_preset


def _fields(info: PresetInfo, result: ArchCost) -> dict[str, object]:
    return {
        "name": info.name,
        "description": info.description,
        "params": result.params,
        "flops": result.flops,
        "layers": len(result.layers),
        "cells": result.cell_layers,
        "feedback_edges": result.feedback_edges,
        "steps": result.steps,
        "path": str(info.path),
    }


def presets() -> list[PresetOut]:
    """Every preset with its size and cost (the released models and feedforward baselines)."""
    return [PresetOut.model_validate(_fields(i, cost(load_preset(i.name)))) for i in list_presets()]


def preset(name: str) -> PresetDetail:
    """One preset with its architecture and per-layer cost."""
    found = {i.name: i for i in list_presets()}.get(name)
    if found is None:
        valid = ", ".join(sorted(i.name for i in list_presets()))
        raise NotFound(f"no preset {name!r}; valid presets: {valid}")
    try:
        arch = load_preset(name)
    except SpecError as exc:  # a broken shipped file is our bug, but say which
        raise NotFound(f"preset {name!r} cannot be loaded: {exc}") from None
    result = cost(arch)
    fields = {**_fields(found, result), "arch": arch.to_dict(), "cost": result.to_dict()}
    return PresetDetail.model_validate(fields)

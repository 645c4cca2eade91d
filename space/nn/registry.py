"""Cell builders keyed by the DSL's ``kind`` strings (``space.cells.FAMILIES``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from space.cells import CELL_KINDS
from space.graph import LayerShape
from space.inventory import LayerInventory

if TYPE_CHECKING:
    from space.arch import Cell
    from space.nn.cells.base import CellModule

CellBuilder = Callable[["Cell", LayerShape, LayerInventory], "CellModule"]
B = TypeVar("B", bound=CellBuilder)

_BUILDERS: dict[str, CellBuilder] = {}


def register_cell(kind: str) -> Callable[[B], B]:
    """Decorator: register the builder of cell ``kind``; a second registration is an error."""

    def add(builder: B) -> B:
        if kind in _BUILDERS:
            raise ValueError(f"cell kind {kind!r} is already registered")
        _BUILDERS[kind] = builder
        return builder

    return add


def cell_builders() -> dict[str, CellBuilder]:
    """Every registered builder. The torch module of each registered family is
    ``space.nn.cells.<kind>``: importing it registers its builder (a cached no-op after the first
    call), so a family's torch module needs no import line anywhere."""
    for kind in CELL_KINDS:
        importlib.import_module(f"space.nn.cells.{kind}")
    return dict(_BUILDERS)


def build_cell(cell: Cell, shape: LayerShape, inv: LayerInventory) -> CellModule:
    builders = cell_builders()
    try:
        builder = builders[cell.kind]
    except KeyError:
        raise ValueError(
            f"layer {shape.name}: no builder for cell kind {cell.kind!r}; known: {sorted(builders)}"
        ) from None
    return builder(cell, shape, inv)

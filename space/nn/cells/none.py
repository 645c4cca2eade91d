"""``none``: no recurrence; the layer is a plain feedforward conv layer."""

from __future__ import annotations

from torch import Tensor

from space.arch import Cell
from space.graph import LayerShape
from space.inventory import LayerInventory
from space.nn.cells.base import CellModule, State
from space.nn.registry import register_cell


class IdentityCell(CellModule):
    def forward(
        self,
        x: Tensor,
        r: Tensor,
        state: State,
        fb_cell: Tensor | None = None,
        fb_out: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        return x, state


@register_cell("none")
def build_none(cell: Cell, shape: LayerShape, inv: LayerInventory) -> CellModule:
    return IdentityCell(shape, inv)

"""``timedecay``: ``h_t = tau * h_{t-1} + x_t`` with one trainable scalar per layer."""

from __future__ import annotations

from torch import Tensor

from space.arch import Cell, TimeDecayCell
from space.graph import LayerShape
from space.inventory import LayerInventory
from space.nn.cells.base import CellModule, State
from space.nn.layers import make_tensor
from space.nn.registry import register_cell


class TimeDecay(CellModule):
    def __init__(self, cell: TimeDecayCell, shape: LayerShape, inv: LayerInventory) -> None:
        super().__init__(shape, inv)
        (spec,) = [t for t in inv.tensors if t.name == "cell.tau"]
        self.tau = make_tensor(spec, cell.tau_init)
        self.state_channels = (shape.x_channels,)

    def forward(
        self,
        x: Tensor,
        r: Tensor,
        state: State,
        fb_cell: Tensor | None = None,
        fb_out: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        h = self.tau * state[0] + x
        return h, (h,)


@register_cell("timedecay")
def build_timedecay(cell: Cell, shape: LayerShape, inv: LayerInventory) -> CellModule:
    assert isinstance(cell, TimeDecayCell)
    return TimeDecay(cell, shape, inv)

"""``simplernn``: ``h_t = f(LN?(W_x*x_t + W_h*h_{t-1} + b))``."""

from __future__ import annotations

from torch import Tensor, nn

from space.arch import Cell, SimpleRNNCell
from space.graph import LayerShape
from space.inventory import LayerInventory
from space.nn.cells.base import CellModule, State
from space.nn.layers import activation
from space.nn.registry import register_cell


class SimpleRNN(CellModule):
    def __init__(self, cell: SimpleRNNCell, shape: LayerShape, inv: LayerInventory) -> None:
        super().__init__(shape, inv)
        self.input = self.conv(inv, "input")
        self.state = self.conv(inv, "state")
        self.ln: nn.Module = self.norm(inv, "ln") if cell.layer_norm else nn.Identity()
        self.act = activation(cell.activation)
        self.state_channels = (shape.y_channels,)

    def forward(
        self,
        x: Tensor,
        r: Tensor,
        state: State,
        fb_cell: Tensor | None = None,
        fb_out: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        h = self.act(self.ln(self.input(x) + self.state(state[0])))
        return h, (h,)


@register_cell("simplernn")
def build_simplernn(cell: Cell, shape: LayerShape, inv: LayerInventory) -> CellModule:
    assert isinstance(cell, SimpleRNNCell)
    return SimpleRNN(cell, shape, inv)

"""``ugrnn``: ``[g, c] = W*[x, h] + b``; ``h_t = s(g + fb).h_{t-1} + (1 - s(g + fb)).tanh(c)``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from space.arch import Cell, UGRNNCell
from space.graph import LayerShape
from space.inventory import LayerInventory
from space.nn.cells.base import CellModule, State
from space.nn.registry import register_cell


class ConvUGRNN(CellModule):
    def __init__(self, cell: UGRNNCell, shape: LayerShape, inv: LayerInventory) -> None:
        super().__init__(shape, inv)
        self.gates = self.conv(inv, "gates")
        ln = cell.layer_norm
        self.ln_g: nn.Module = self.norm(inv, "ln_g") if ln else nn.Identity()
        self.ln_c: nn.Module = self.norm(inv, "ln_c") if ln else nn.Identity()
        self.forget_bias = cell.forget_bias
        self.state_channels = (shape.y_channels,)

    def forward(
        self,
        x: Tensor,
        r: Tensor,
        state: State,
        fb_cell: Tensor | None = None,
        fb_out: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        h = state[0]
        g, c = self.gates(torch.cat([x, h], 1)).chunk(2, 1)
        gate = torch.sigmoid(self.ln_g(g) + self.forget_bias)
        h = gate * h + (1 - gate) * torch.tanh(self.ln_c(c))
        return h, (h,)


@register_cell("ugrnn")
def build_ugrnn(cell: Cell, shape: LayerShape, inv: LayerInventory) -> CellModule:
    assert isinstance(cell, UGRNNCell)
    return ConvUGRNN(cell, shape, inv)

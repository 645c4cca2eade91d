"""``intersectionrnn``: a gated state plus a learned bypass of the input (state depth = input).

Both gates get ``forget_bias`` before their sigmoid, as in the released code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from space.arch import Cell, IntersectionRNNCell
from space.graph import LayerShape
from space.inventory import LayerInventory
from space.nn.cells.base import CellModule, State
from space.nn.registry import register_cell


class ConvIntersectionRNN(CellModule):
    def __init__(self, cell: IntersectionRNNCell, shape: LayerShape, inv: LayerInventory) -> None:
        super().__init__(shape, inv)
        self.gates = self.conv(inv, "gates")
        ln = cell.layer_norm
        self.ln_gh: nn.Module = self.norm(inv, "ln_gh") if ln else nn.Identity()
        self.ln_h: nn.Module = self.norm(inv, "ln_h") if ln else nn.Identity()
        self.ln_gy: nn.Module = self.norm(inv, "ln_gy") if ln else nn.Identity()
        self.ln_y: nn.Module = self.norm(inv, "ln_y") if ln else nn.Identity()
        self.forget_bias = cell.forget_bias
        self.state_channels = (shape.x_channels,)

    def forward(
        self,
        x: Tensor,
        r: Tensor,
        state: State,
        fb_cell: Tensor | None = None,
        fb_out: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        h = state[0]
        gh, hh, gy, yy = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        g_h = torch.sigmoid(self.ln_gh(gh) + self.forget_bias)
        g_y = torch.sigmoid(self.ln_gy(gy) + self.forget_bias)
        new_h = g_h * h + (1 - g_h) * torch.tanh(self.ln_h(hh))
        y = g_y * x + (1 - g_y) * F.relu(self.ln_y(yy))
        return y, (new_h,)


@register_cell("intersectionrnn")
def build_intersectionrnn(cell: Cell, shape: LayerShape, inv: LayerInventory) -> CellModule:
    assert isinstance(cell, IntersectionRNNCell)
    return ConvIntersectionRNN(cell, shape, inv)

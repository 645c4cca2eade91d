"""``gru``: convolutional GRU (convrnn.md section 2); the reset gate gets ``forget_bias``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from space.arch import Cell, GRUCell
from space.graph import LayerShape
from space.inventory import LayerInventory
from space.nn.cells.base import CellModule, State
from space.nn.registry import register_cell


class ConvGRU(CellModule):
    def __init__(self, cell: GRUCell, shape: LayerShape, inv: LayerInventory) -> None:
        super().__init__(shape, inv)
        self.gates = self.conv(inv, "gates")
        self.candidate = self.conv(inv, "candidate")
        ln = cell.layer_norm
        self.ln_r: nn.Module = self.norm(inv, "ln_r") if ln else nn.Identity()
        self.ln_u: nn.Module = self.norm(inv, "ln_u") if ln else nn.Identity()
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
        r_pre, u_pre = self.gates(torch.cat([x, h], 1)).chunk(2, 1)
        reset = torch.sigmoid(self.ln_r(r_pre) + self.forget_bias)
        update = torch.sigmoid(self.ln_u(u_pre))
        cand = torch.tanh(self.ln_c(self.candidate(torch.cat([x, reset * h], 1))))
        h = update * h + (1 - update) * cand
        return h, (h,)


@register_cell("gru")
def build_gru(cell: Cell, shape: LayerShape, inv: LayerInventory) -> CellModule:
    assert isinstance(cell, GRUCell)
    return ConvGRU(cell, shape, inv)

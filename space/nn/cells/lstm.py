"""``lstm``: convolutional LSTM with optional (spatially untied) peepholes and layer norm.

As in the released code, every peephole (the output gate's included) reads the *previous* cell
state ``c_{t-1}``, and with layer norm the normalised cell state is what is carried forward.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from space.arch import Cell, LSTMCell
from space.graph import LayerShape
from space.inventory import LayerInventory
from space.nn.cells.base import CellModule, State
from space.nn.layers import make_tensor
from space.nn.registry import register_cell


class ConvLSTM(CellModule):
    def __init__(self, cell: LSTMCell, shape: LayerShape, inv: LayerInventory) -> None:
        super().__init__(shape, inv)
        self.gates = self.conv(inv, "gates")
        self.peepholes = cell.peepholes
        tensors = {t.name: t for t in inv.tensors}
        if cell.peepholes:
            # zero init: the cell starts as a plain LSTM and learns to use the peepholes
            self.peep_i = make_tensor(tensors["cell.peep_i"])
            self.peep_f = make_tensor(tensors["cell.peep_f"])
            self.peep_o = make_tensor(tensors["cell.peep_o"])
        ln = cell.layer_norm
        self.ln_i: nn.Module = self.norm(inv, "ln_i") if ln else nn.Identity()
        self.ln_j: nn.Module = self.norm(inv, "ln_j") if ln else nn.Identity()
        self.ln_f: nn.Module = self.norm(inv, "ln_f") if ln else nn.Identity()
        self.ln_o: nn.Module = self.norm(inv, "ln_o") if ln else nn.Identity()
        self.ln_c: nn.Module = self.norm(inv, "ln_c") if ln else nn.Identity()
        self.forget_bias = cell.forget_bias
        self.state_channels = (shape.y_channels, shape.y_channels)

    def forward(
        self,
        x: Tensor,
        r: Tensor,
        state: State,
        fb_cell: Tensor | None = None,
        fb_out: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        c, h = state
        i, j, f, o = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        i, j, f, o = self.ln_i(i), self.ln_j(j), self.ln_f(f), self.ln_o(o)
        if self.peepholes:
            i = i + self.peep_i * c
            f = f + self.peep_f * c
            o = o + self.peep_o * c
        new_c = c * torch.sigmoid(f + self.forget_bias) + torch.sigmoid(i) * torch.tanh(j)
        new_c = self.ln_c(new_c)
        new_h = torch.tanh(new_c) * torch.sigmoid(o)
        return new_h, (new_c, new_h)


@register_cell("lstm")
def build_lstm(cell: Cell, shape: LayerShape, inv: LayerInventory) -> CellModule:
    assert isinstance(cell, LSTMCell)
    return ConvLSTM(cell, shape, inv)

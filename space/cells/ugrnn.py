"""``ugrnn``: the update-gate RNN."""

from __future__ import annotations

from typing import ClassVar, Literal

from space.cells.base import CellModel, CellParts, CellShape, cell_norms
from space.fields import CELL_TRAINING_FIELDS, Float, InitScale, Kernel, PositiveInt, WeightDecay
from space.inventory_parts import ConvSpec


class UGRNNCell(CellModel):
    """Update-gate RNN: ``h_t = g.h_{t-1} + (1-g).tanh(c)``."""

    kind: Literal["ugrnn"] = "ugrnn"
    depth: PositiveInt | None = None
    filter_size: Kernel = 3
    forget_bias: Float = 1.0
    layer_norm: bool = False
    bias: bool = True
    init_scale: InitScale | None = None
    weight_decay: WeightDecay | None = None

    _hash_neutral: ClassVar[frozenset[str]] = CELL_TRAINING_FIELDS
    state_tensors: ClassVar[int] = 3  # s(g), tanh(c), h

    def parts(self, shape: CellShape) -> CellParts:
        c, d, s = shape.x_channels, shape.y_channels, shape.size
        return CellParts(
            convs=[ConvSpec("cell.gates", c + d, 2 * d, self.filter_size, s, self.bias)],
            norms=cell_norms(["ln_g", "ln_c"], d, s) if self.layer_norm else [],
        )


MODEL = UGRNNCell

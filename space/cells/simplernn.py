"""``simplernn``: a convolutional Elman RNN."""

from __future__ import annotations

from typing import ClassVar, Literal

from space.cells.base import CellModel, CellParts, CellShape, cell_norms
from space.fields import (
    CELL_TRAINING_FIELDS,
    Activation,
    InitScale,
    Kernel,
    PositiveInt,
    WeightDecay,
)
from space.inventory_parts import ConvSpec


class SimpleRNNCell(CellModel):
    """``h_t = f(LN?(W_x*x_t + W_h*h_{t-1} + b))``; ``depth`` = output channels (None: as input)."""

    kind: Literal["simplernn"] = "simplernn"
    depth: PositiveInt | None = None
    filter_size: Kernel = 3
    activation: Activation = "elu"
    layer_norm: bool = False
    bias: bool = True
    init_scale: InitScale | None = None
    weight_decay: WeightDecay | None = None

    _hash_neutral: ClassVar[frozenset[str]] = CELL_TRAINING_FIELDS
    state_tensors: ClassVar[int] = 1  # h = f(pre)

    def parts(self, shape: CellShape) -> CellParts:
        c, d, s = shape.x_channels, shape.y_channels, shape.size
        k, b = self.filter_size, self.bias
        return CellParts(
            convs=[ConvSpec("cell.input", c, d, k, s, b), ConvSpec("cell.state", d, d, k, s, b)],
            norms=cell_norms(["ln"], d, s) if self.layer_norm else [],
        )


MODEL = SimpleRNNCell

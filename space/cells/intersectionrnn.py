"""``intersectionrnn``: gated state plus a learned bypass of the input."""

from __future__ import annotations

from typing import ClassVar, Literal

from space.cells.base import CellModel, CellParts, CellShape, cell_norms
from space.fields import CELL_TRAINING_FIELDS, Float, InitScale, Kernel, WeightDecay
from space.inventory_parts import ConvSpec


class IntersectionRNNCell(CellModel):
    """Intersection RNN: gated state plus a learned bypass of the input; state depth = input."""

    kind: Literal["intersectionrnn"] = "intersectionrnn"
    filter_size: Kernel = 3
    forget_bias: Float = 1.0
    layer_norm: bool = False
    bias: bool = True
    init_scale: InitScale | None = None
    weight_decay: WeightDecay | None = None

    _hash_neutral: ClassVar[frozenset[str]] = CELL_TRAINING_FIELDS
    state_tensors: ClassVar[int] = 6  # s(g_h), tanh(h~), s(g_y), relu(y~), h, y

    def parts(self, shape: CellShape) -> CellParts:
        c, s = shape.x_channels, shape.size
        return CellParts(
            convs=[ConvSpec("cell.gates", 2 * c, 4 * c, self.filter_size, s, self.bias)],
            norms=cell_norms(["ln_gh", "ln_h", "ln_gy", "ln_y"], c, s) if self.layer_norm else [],
        )

    def state_width(self, shape: CellShape) -> int:
        return shape.x_channels  # the state has the input's depth


MODEL = IntersectionRNNCell

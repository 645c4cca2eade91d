"""``gru``: convolutional GRU (convrnn.md section 2)."""

from __future__ import annotations

from typing import ClassVar, Literal

from space.cells.base import CellModel, CellParts, CellShape, InitRule, cell_norms
from space.fields import CELL_TRAINING_FIELDS, Float, InitScale, Kernel, PositiveInt, WeightDecay
from space.inventory_parts import ConvSpec


class GRUCell(CellModel):
    """Convolutional GRU; the reset gate gets ``forget_bias`` added before its sigmoid."""

    kind: Literal["gru"] = "gru"
    depth: PositiveInt | None = None
    filter_size: Kernel = 3
    forget_bias: Float = 1.0
    layer_norm: bool = False
    bias: bool = True
    init_scale: InitScale | None = None
    weight_decay: WeightDecay | None = None

    _hash_neutral: ClassVar[frozenset[str]] = CELL_TRAINING_FIELDS
    state_tensors: ClassVar[int] = 5  # s(r), s(u), r.h, tanh(c), h

    def parts(self, shape: CellShape) -> CellParts:
        c, d, s = shape.x_channels, shape.y_channels, shape.size
        k, b = self.filter_size, self.bias
        return CellParts(
            convs=[
                ConvSpec("cell.gates", c + d, 2 * d, k, s, b),
                ConvSpec("cell.candidate", c + d, d, k, s, b),
            ],
            norms=cell_norms(["ln_r", "ln_u", "ln_c"], d, s) if self.layer_norm else [],
        )

    def init_rules(self, scheme: str) -> tuple[InitRule, ...]:
        # the released GRU starts its gates' (reset, update) bias at 1.0
        if scheme == "tf" and self.bias:
            return (InitRule("gates.conv.bias", "constant", 1.0),)
        return ()


MODEL = GRUCell

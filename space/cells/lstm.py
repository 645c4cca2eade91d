"""``lstm``: convolutional LSTM with optional (spatially untied) peepholes."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, Strict

from space.cells.base import CellModel, CellParts, CellShape, InitRule, cell_norms
from space.fields import CELL_TRAINING_FIELDS, Float, InitScale, Kernel, PositiveInt, WeightDecay
from space.inventory_parts import ConvSpec, TensorSpec


class LSTMCell(CellModel):
    """Convolutional LSTM; peepholes are spatially untied (one weight per channel and position)."""

    kind: Literal["lstm"] = "lstm"
    depth: PositiveInt | None = None
    filter_size: Kernel = 3
    forget_bias: Float = 1.0
    peepholes: bool = False
    layer_norm: bool = False
    bias: bool = True
    init_scale: InitScale | None = None
    weight_decay: WeightDecay | None = None

    #: the start of every bias of the gates conv (i, j, f, o); None: 0. The released
    #: lstm_shallow tuned it per layer (its bias_initializer constant)
    bias_init: Annotated[float, Strict(), Field(ge=-100.0, le=100.0)] | None = None

    _hash_neutral: ClassVar[frozenset[str]] = CELL_TRAINING_FIELDS | {"bias_init"}
    state_tensors: ClassVar[int] = 7  # s(i), tanh(j), s(f), s(o), c, tanh(c), h

    def parts(self, shape: CellShape) -> CellParts:
        c, d, s = shape.x_channels, shape.y_channels, shape.size
        peeps = [TensorSpec(f"cell.peep_{g}", (d, s, s)) for g in "ifo"] if self.peepholes else []
        names = ["ln_i", "ln_j", "ln_f", "ln_o", "ln_c"]
        return CellParts(
            convs=[ConvSpec("cell.gates", c + d, 4 * d, self.filter_size, s, self.bias)],
            norms=cell_norms(names, d, s) if self.layer_norm else [],
            tensors=peeps,
        )

    def init_rules(self, scheme: str) -> tuple[InitRule, ...]:
        rules: list[InitRule] = []
        if self.bias_init is not None and self.bias:
            rules.append(InitRule("gates.conv.bias", "constant", self.bias_init))
        if scheme == "tf" and self.peepholes:  # zeros under xavier, as every free tensor
            rules += [InitRule(f"peep_{gate}", "peephole") for gate in "ifo"]
        return tuple(rules)


MODEL = LSTMCell

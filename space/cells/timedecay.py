"""``timedecay``: a leaky integrator with one trainable scalar per layer."""

from __future__ import annotations

from typing import ClassVar, Literal

from space.cells.base import CellModel, CellParts, CellShape
from space.fields import Float
from space.inventory_parts import TensorSpec


class TimeDecayCell(CellModel):
    """``h_t = tau * h_{t-1} + x_t`` with one trainable scalar ``tau`` per layer."""

    kind: Literal["timedecay"] = "timedecay"
    tau_init: Float = 0.0

    state_tensors: ClassVar[int] = 1  # h

    def parts(self, shape: CellShape) -> CellParts:
        return CellParts(tensors=[TensorSpec("cell.tau", ())])


MODEL = TimeDecayCell

"""``none``: no recurrence; the layer is a plain feedforward conv layer."""

from __future__ import annotations

from typing import Literal

from space.cells.base import CellModel


class NoneCell(CellModel):
    """No recurrence: the layer is a plain feedforward conv layer."""

    kind: Literal["none"] = "none"


MODEL = NoneCell

"""The interface every cell module implements."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from space.graph import LayerShape
from space.inventory import LayerInventory
from space.nn.layers import make_conv, make_norm

State = tuple[Tensor, ...]


class CellModule(nn.Module):
    """One recurrent cell of a layer.

    ``forward(x, r, state, fb_cell, fb_out)`` returns ``(y, new_state)``: ``x`` is the cell input
    (layer conv output after the layer activation), ``r`` the layer input resized to the cell's
    spatial size, ``state`` the previous state (zeros at step 0). ``fb_cell`` / ``fb_out`` are
    projected feedback for entries ``cell`` / ``out``; only cells that own those entries (rgc)
    accept them, otherwise the layer adds ``out`` feedback to ``y`` itself.
    """

    #: whether the cell adds feedback of entry ``out`` itself (else the layer adds it to ``y``)
    takes_out_feedback: bool = False
    #: whether ``forward`` uses ``r`` (lets the layer skip resizing it)
    uses_residual: bool = False

    def __init__(self, shape: LayerShape, inv: LayerInventory) -> None:
        super().__init__()
        self.size = shape.size
        self.state_channels: tuple[int, ...] = ()

    def conv(self, inv: LayerInventory, name: str) -> nn.Module:
        """The module for inventory conv ``cell.<name>``."""
        return make_conv(inv.conv(f"cell.{name}"))

    def norm(self, inv: LayerInventory, name: str) -> nn.GroupNorm:
        for spec in inv.norms:
            if spec.name == f"cell.{name}":
                return make_norm(spec)
        raise KeyError(f"{inv.name} has no norm cell.{name}")

    def prepare(self) -> None:
        """Called once at the start of a forward pass over the unroll (e.g. to concatenate
        the weights of fused convs once rather than at every step)."""

    def release(self) -> None:
        """Called at the end of the forward pass: drop what ``prepare`` made."""

    def init_state(self, batch: int, like: Tensor) -> State:
        """Zero state, one tensor per entry of ``state_channels``."""
        return tuple(
            torch.zeros(batch, c, self.size, self.size, dtype=like.dtype, device=like.device)
            for c in self.state_channels
        )

    def forward(
        self,
        x: Tensor,
        r: Tensor,
        state: State,
        fb_cell: Tensor | None = None,
        fb_out: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        raise NotImplementedError

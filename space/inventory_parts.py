"""The parameter specs that :mod:`space.inventory` lists (convs, norms, free tensors).

They live apart from the inventory so that a cell family (:mod:`space.cells`) can describe its
parameters without importing the arch (which imports every family).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod


@dataclass(frozen=True)
class ConvSpec:
    """One conv; ``size`` is its output's spatial size (for FLOPs)."""

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    size: int
    bias: bool = True
    depth_separable: bool = False
    stride: int = 1

    @property
    def params(self) -> int:
        b = self.out_channels if self.bias else 0
        if self.depth_separable:
            return self.kernel**2 * self.in_channels + self.in_channels * self.out_channels + b
        return self.kernel**2 * self.in_channels * self.out_channels + b

    @property
    def macs(self) -> int:
        """Multiply-adds for one image at one step."""
        k2 = self.kernel**2
        per_pos = (
            k2 * self.in_channels + self.in_channels * self.out_channels
            if self.depth_separable
            else k2 * self.in_channels * self.out_channels
        )
        return per_pos * self.size**2


@dataclass(frozen=True)
class NormSpec:
    """A layer norm with per-channel gain and shift over ``channels`` at ``size`` x ``size``."""

    name: str
    channels: int
    size: int

    @property
    def params(self) -> int:
        return 2 * self.channels


@dataclass(frozen=True)
class TensorSpec:
    """A free parameter tensor (peephole weights, the time-decay scalar)."""

    name: str
    shape: tuple[int, ...]

    @property
    def params(self) -> int:
        return prod(self.shape)

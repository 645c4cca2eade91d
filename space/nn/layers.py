"""Convs, norms, free tensors and activations built from ``space.inventory`` specs.

Padding is TensorFlow's SAME (as in the papers' code): output ``ceil(n / stride)``, the extra
pixel of an even kernel or an odd total padding goes to the bottom/right. The padding of every
conv is computed once at build time from the known spatial sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from space.inventory import ConvSpec, NormSpec, TensorSpec

Act = Callable[[Tensor], Tensor]


def _identity(x: Tensor) -> Tensor:
    return x


ACTIVATIONS: dict[str, Act] = {
    "elu": F.elu,
    "relu": F.relu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "identity": _identity,
}


def activation(name: str) -> Act:
    """The activation function for a DSL name (``elu``, ``relu``, ..., ``identity``)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}") from None


def same_padding(in_size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF SAME padding (before, after) along one axis."""
    out = math.ceil(in_size / stride)
    total = max((out - 1) * stride + kernel - in_size, 0)
    return total // 2, total - total // 2


class SameConv(nn.Module):
    """A square conv with TF SAME padding: symmetric padding goes into the conv itself, an
    asymmetric one (even kernels, some strides) is one ``F.pad`` before it."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        in_size: int,
        stride: int = 1,
        bias: bool = True,
        groups: int = 1,
    ) -> None:
        super().__init__()
        before, after = same_padding(in_size, kernel, stride)
        self.pad: tuple[int, int, int, int] | None = None
        padding = before
        if before != after:
            self.pad = (before, after, before, after)
            padding = 0
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel, stride, padding, bias=bias, groups=groups
        )

    @property
    def weight(self) -> Tensor:
        return self.conv.weight

    def forward(self, x: Tensor) -> Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad)
        out: Tensor = self.conv(x)
        return out


class DepthSeparableConv(nn.Module):
    """Depthwise ``k x k`` (channel multiplier 1, no bias) then pointwise ``1 x 1`` (+ bias)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, in_size: int, bias: bool
    ) -> None:
        super().__init__()
        self.depthwise = SameConv(
            in_channels, in_channels, kernel, in_size, bias=False, groups=in_channels
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.pointwise(self.depthwise(x))
        return out


def make_conv(spec: ConvSpec, in_size: int | None = None) -> nn.Module:
    """The torch module of one inventory conv (``in_size``: its input size, default output
    size times stride)."""
    n = spec.size * spec.stride if in_size is None else in_size
    if spec.depth_separable:
        if spec.stride != 1:
            raise ValueError(f"{spec.name}: a depth-separable conv must have stride 1")
        return DepthSeparableConv(spec.in_channels, spec.out_channels, spec.kernel, n, spec.bias)
    return SameConv(spec.in_channels, spec.out_channels, spec.kernel, n, spec.stride, spec.bias)


def make_norm(spec: NormSpec) -> nn.GroupNorm:
    """Layer norm over (C, H, W) per sample with per-channel gain and shift."""
    return nn.GroupNorm(1, spec.channels)


def make_tensor(spec: TensorSpec, fill: float = 0.0) -> nn.Parameter:
    return nn.Parameter(torch.full(spec.shape, float(fill)))


def resize(x: Tensor, size: int) -> Tensor:
    """Bilinear resize to ``size`` x ``size`` (no-op when already there)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def init_weights(module: nn.Module) -> None:
    """Glorot-uniform kernels and zero biases, as the papers' code (``xavier``)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

"""Convs, norms, free tensors and activations built from ``space.inventory`` specs.

Padding is TensorFlow's SAME (as in the papers' code): output ``ceil(n / stride)``, the extra
pixel of an even kernel or an odd total padding goes to the bottom/right. The padding of every
conv is computed once at build time from the known spatial sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


_FAST = True


@contextmanager
def reference_kernels() -> Iterator[None]:
    """Run every conv plainly (no kernel cropping, no matmul path, no fused convs): the
    reference the fast paths are tested against."""
    global _FAST
    saved, _FAST = _FAST, False
    try:
        yield
    finally:
        _FAST = saved


def fast_kernels() -> bool:
    return _FAST


def _crop(size: int, kernel: int, before: int) -> tuple[int, int]:
    """The kernel taps ``[lo, hi)`` of a stride-1 conv that ever land inside a ``size`` map
    (the others only ever multiply padding zeros)."""
    return max(0, before - (size - 1)), min(kernel, before + size)


#: a full conv whose output has at most this many positions runs as unfold + matmul: oneDNN's
#: direct conv is 2-3x slower there (forward+backward, 3x3 512->512 on 2x2: 20 ms vs 8 ms)
MATMUL_MAX_POSITIONS = 4


class SameConv(nn.Module):
    """A square conv with TF SAME padding: symmetric padding goes into the conv itself, an
    asymmetric one (even kernels, some strides) is one ``F.pad`` before it.

    Fast paths, exactly equivalent: on a map smaller than the kernel (stride 1), only the taps
    that can reach the map are used (a 7x7 conv on a 2x2 map is a 3x3 one); a full conv on a
    tiny map runs as unfold + matmul.
    """

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
        self.stride, self.groups = stride, groups
        self.pad, self.padding = self._geometry(before, after)
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel, stride, self.padding, bias=bias, groups=groups
        )
        # the fast geometry: cropped taps [lo, hi) and their padding
        self.crop: tuple[int, int] | None = None
        self.fast_pad, self.fast_padding = self.pad, self.padding
        if stride == 1:
            lo, hi = _crop(in_size, kernel, before)
            if (lo, hi) != (0, kernel):
                self.crop = (lo, hi)
                self.fast_pad, self.fast_padding = self._geometry(
                    before - lo, after - (kernel - hi)
                )
        self._weight: Tensor | None = None
        out_size = math.ceil(in_size / stride)
        self.matmul = (
            stride == 1 and groups == 1 and kernel > 1 and out_size**2 <= MATMUL_MAX_POSITIONS
        )

    @staticmethod
    def _geometry(before: int, after: int) -> tuple[tuple[int, int, int, int] | None, int]:
        if before == after:
            return None, before
        return (before, after, before, after), 0

    @property
    def weight(self) -> Tensor:
        return self.conv.weight

    @property
    def bias(self) -> Tensor | None:
        return self.conv.bias

    def fast_weight(self, weight: Tensor) -> Tensor:
        """``weight`` cropped to the taps that reach the map (contiguous, for the conv)."""
        if self.crop is None:
            return weight
        lo, hi = self.crop
        return weight[:, :, lo:hi, lo:hi].contiguous()

    def prepare(self) -> None:
        """Crop the kernel once per forward pass: cropping at every step would make autograd
        scatter every step's gradient into a full-size zero tensor (measured: a third of an
        LSTM step)."""
        self._weight = self.fast_weight(self.conv.weight) if self.crop is not None else None

    def release(self) -> None:
        self._weight = None

    def apply_weights(
        self, x: Tensor, weight: Tensor, bias: Tensor | None, cropped: bool = False
    ) -> Tensor:
        """This conv's geometry with the given weights (those of several fused convs);
        ``cropped``: ``weight`` is already :meth:`fast_weight`."""
        if not _FAST:
            if self.pad is not None:
                x = F.pad(x, self.pad)
            return F.conv2d(x, weight, bias, self.stride, self.padding, 1, self.groups)
        if not cropped:
            weight = self.fast_weight(weight)
        if self.fast_pad is not None:
            x = F.pad(x, self.fast_pad)
        if self.matmul:
            return _matmul_conv(x, weight, bias, self.fast_padding)
        return F.conv2d(x, weight, bias, self.stride, self.fast_padding, 1, self.groups)

    def forward(self, x: Tensor) -> Tensor:
        if _FAST and self._weight is not None:
            return self.apply_weights(x, self._weight, self.conv.bias, cropped=True)
        return self.apply_weights(x, self.conv.weight, self.conv.bias)


def _matmul_conv(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int) -> Tensor:
    """A stride-1 conv as unfold + matmul (output size = input size + 2 padding - k + 1)."""
    b, _, h, w = x.shape
    out, _, kh, kw = weight.shape
    cols = F.unfold(x, (kh, kw), padding=padding)  # [B, C*kh*kw, L]
    y = weight.reshape(out, -1) @ cols
    if bias is not None:
        y = y + bias[:, None]
    return y.view(b, out, h + 2 * padding - kh + 1, w + 2 * padding - kw + 1)


class DepthSeparableConv(nn.Module):
    """Depthwise ``k x k`` (channel multiplier 1, no bias) then pointwise ``1 x 1`` (+ bias).

    The depthwise conv runs in channels-last memory format on maps of at least
    ``CHANNELS_LAST_MIN_SIZE``: oneDNN's depthwise kernels are 2-3x faster there (forward and
    backward) than in NCHW, which outweighs the two layout copies."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, in_size: int, bias: bool
    ) -> None:
        super().__init__()
        self.depthwise = SameConv(
            in_channels, in_channels, kernel, in_size, bias=False, groups=in_channels
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)
        self.channels_last = in_size >= CHANNELS_LAST_MIN_SIZE

    def forward(self, x: Tensor) -> Tensor:
        if _FAST and self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
            d = self.depthwise(x).contiguous()
        else:
            d = self.depthwise(x)
        out: Tensor = self.pointwise(d)
        return out


CHANNELS_LAST_MIN_SIZE = 4


class ConvGroup:
    """Full convs of one cell that read the same tensor with the same geometry, run as one conv
    with their out-channels concatenated (one bigger GEMM instead of several small ones).

    The parameters stay the convs' own (named as in the inventory); ``prepare`` concatenates
    them once per forward pass so the unroll does not copy weights at every step (autograd
    splits the accumulated gradient back once)."""

    def __init__(self, names: list[str], convs: list[nn.Module]) -> None:
        self.names = names
        self.convs = convs
        self.fused = [c for c in convs if isinstance(c, SameConv)] if len(convs) > 1 else []
        if self.fused and len(self.fused) != len(convs):
            raise ValueError(f"only plain convs can be fused: {names}")
        self.splits = [c.conv.out_channels for c in self.fused]
        self._weights: tuple[Tensor, Tensor | None] | None = None

    def _concat(self) -> tuple[Tensor, Tensor | None]:
        weight = self.fused[0].fast_weight(torch.cat([c.weight for c in self.fused]))
        biases = [c.bias for c in self.fused]
        if all(b is None for b in biases):
            return weight, None
        parts = [
            b if b is not None else weight.new_zeros(n)
            for b, n in zip(biases, self.splits, strict=True)
        ]
        return weight, torch.cat(parts)

    def prepare(self) -> None:
        self._weights = self._concat() if self.fused else None

    def release(self) -> None:
        self._weights = None

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        if not self.fused or not _FAST:
            return {n: c(x) for n, c in zip(self.names, self.convs, strict=True)}
        weight, bias = self._weights if self._weights is not None else self._concat()
        out = self.fused[0].apply_weights(x, weight, bias, cropped=True)
        return dict(zip(self.names, torch.split(out, self.splits, 1), strict=True))


def conv_groups(convs: dict[str, tuple[str, nn.Module]]) -> list[tuple[str, ConvGroup]]:
    """Group convs (name -> (input name, module)) into :class:`ConvGroup` s: full convs with the
    same input and geometry together, every other conv alone. Returns (input name, group)."""
    keyed: dict[tuple[object, ...], tuple[str, list[str], list[nn.Module]]] = {}
    singles: list[tuple[str, ConvGroup]] = []
    for name, (source, module) in convs.items():
        if isinstance(module, SameConv):
            c = module.conv
            key: tuple[object, ...] = (source, c.kernel_size, c.stride, c.groups, module.pad)
            key += (module.padding, module.crop, module.matmul, c.in_channels)
            keyed.setdefault(key, (source, [], []))
            keyed[key][1].append(name)
            keyed[key][2].append(module)
        else:
            singles.append((source, ConvGroup([name], [module])))
    fused = [(source, ConvGroup(names, mods)) for source, names, mods in keyed.values()]
    return fused + singles


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


def resize(x: Tensor, size: int, align_corners: bool = False) -> Tensor:
    """Bilinear resize to ``size`` x ``size`` (no-op when already there); ``align_corners``:
    corner pixels map to corner pixels, as TF's ``resize_images(align_corners=True)``."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=align_corners)

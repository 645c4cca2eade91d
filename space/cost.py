"""Analytic cost of an :class:`~space.arch.Arch`, without torch.

Everything here is derived from :mod:`space.inventory` (the same list of convs, norms and free
tensors that ``space.nn`` builds), so the parameter count equals ``sum(p.numel())`` of the torch
model by construction.

Definitions (one image, batch 1):

``params``
    The number of trainable scalars: every conv weight and bias, every norm gain and shift, every
    free tensor (peepholes, time-decay scalars), the readout.

``flops``
    Multiply-accumulates (MACs, the papers' convention: one multiply-add counts once) of every conv
    of every layer at every one of the ``time.steps`` steps, plus the readout at every step. The
    unroll computes every layer at every step (layers that have not seen the image yet still run),
    so ``flops = steps * macs_per_step`` in both unroll modes. Elementwise arithmetic (gates,
    activations, norms, pooling, resizing) is *not* counted: it is a few operations per element,
    negligible next to the convs and dependent on the implementation.

``activation_bytes``
    An estimate of what backprop through time keeps for one image, in float32 (4 bytes an
    element): the input image once, plus at every step, for every layer, the elements of
    (a) every conv output (and the depthwise intermediate of a depth-separable conv),
    (b) every norm output,
    (c) the cell's gate activations and states (:data:`CELL_TENSORS` tensors of the cell's
        width: e.g. an LSTM keeps i, j, f, o activations, c, tanh(c) and h),
    (d) the residual sum / post activation of a residual block, the pooled layer output, and the
        channel concatenation of the feedback inputs,
    and the readout (its conv output and its pooled features or logits). It ignores allocator
    overhead and the temporaries autograd frees, so read it as the right order of magnitude for
    comparing architectures, not a byte-exact figure.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from space.arch import CELL_MODELS, Arch, LayerArch
from space.graph import LayerShape, first_signal_steps, layer_shapes
from space.inventory import LayerInventory, layer_inventory, readout_inventory

BYTES_PER_ELEMENT = 4

# Elementwise tensors a cell keeps per step, in units of its width x size x size (see module doc);
# each family states its own (``CellModel.state_tensors``), this table is for reading.
CELL_TENSORS: dict[str, int] = {kind: model.state_tensors for kind, model in CELL_MODELS.items()}


@dataclass(frozen=True)
class LayerCost:
    """Cost and shape of one layer; ``channels`` is the conv's output (the cell input ``x``)."""

    name: str
    in_channels: int
    channels: int
    out_channels: int
    in_size: int
    size: int
    out_size: int
    cell: str
    feedback_from: tuple[str, ...]
    first_signal: int
    params: int
    macs_per_step: int
    activation_elements_per_step: int


@dataclass(frozen=True)
class ReadoutCost:
    kind: str
    in_channels: int
    classes: int
    params: int
    macs_per_step: int
    first_signal: int


@dataclass(frozen=True)
class ArchCost:
    """Analytic cost of an arch; see the module docstring for the exact definitions."""

    arch_hash: str
    steps: int
    params: int
    macs_per_step: int
    flops: int
    activation_bytes: int
    readout_first_step: int
    layers: tuple[LayerCost, ...]
    readout: ReadoutCost

    @property
    def feedback_edges(self) -> int:
        return sum(len(layer.feedback_from) for layer in self.layers)

    @property
    def cell_layers(self) -> int:
        return sum(layer.cell != "none" for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["layers"] = [
            {**layer, "feedback_from": list(layer["feedback_from"])} for layer in data["layers"]
        ]
        data["gflops"] = self.flops / 1e9
        data["feedback_edges"] = self.feedback_edges
        data["cell_layers"] = self.cell_layers
        return data


def _cell_elements(layer: LayerArch, shape: LayerShape) -> int:
    """Elements of the cell's gate activations and states at one step."""
    cell = layer.cell
    return cell.state_tensors * cell.state_width(shape) * shape.size**2


def _layer_elements(layer: LayerArch, shape: LayerShape, inv: LayerInventory) -> int:
    """Elements one layer keeps for backprop at one step (see the module docstring)."""
    elements = 0
    for conv in inv.convs:
        elements += conv.out_channels * conv.size**2
        if conv.depth_separable:
            elements += conv.in_channels * conv.size**2
    elements += sum(norm.channels * norm.size**2 for norm in inv.norms)
    elements += _cell_elements(layer, shape)
    if layer.residual or layer.post_activation != "identity":
        elements += shape.out_channels * shape.size**2
    if layer.pool > 1:
        elements += shape.out_channels * shape.out_size**2
    elements += sum(group.in_channels * shape.size**2 for group in shape.feedback)
    return elements


def _incoming(arch: Arch) -> dict[str, tuple[str, ...]]:
    order = {layer.name: i for i, layer in enumerate(arch.layers)}
    incoming: dict[str, list[str]] = {layer.name: [] for layer in arch.layers}
    for edge in arch.feedback:
        incoming[edge.target].append(edge.source)
    return {name: tuple(sorted(srcs, key=order.__getitem__)) for name, srcs in incoming.items()}


def cost(arch: Arch) -> ArchCost:
    """Parameters, FLOPs (MACs over the unroll), activation memory and per-layer figures."""
    shapes = layer_shapes(arch)
    first = first_signal_steps(arch)
    incoming = _incoming(arch)
    layers: list[LayerCost] = []
    elements_per_step = 0
    for layer, shape in zip(arch.layers, shapes, strict=True):
        inv = layer_inventory(layer, shape, arch.crop_depthwise)
        elements = _layer_elements(layer, shape, inv)
        elements_per_step += elements
        layers.append(
            LayerCost(
                name=layer.name,
                in_channels=shape.in_channels,
                channels=shape.x_channels,
                out_channels=shape.out_channels,
                in_size=shape.in_size,
                size=shape.size,
                out_size=shape.out_size,
                cell=layer.cell.kind,
                feedback_from=incoming[layer.name],
                first_signal=shape.first_signal,
                params=inv.params,
                macs_per_step=sum(conv.macs for conv in inv.convs),
                activation_elements_per_step=elements,
            )
        )
    head = readout_inventory(arch, shapes[-1])
    head_conv = head.convs[0]
    readout = ReadoutCost(
        kind=arch.head.kind,
        in_channels=head_conv.in_channels,
        classes=arch.classes,
        params=head.params,
        macs_per_step=sum(conv.macs for conv in head.convs),
        first_signal=first["readout"],
    )
    # The head keeps its conv output plus, for fc, the pooled features, for conv, the pooled logits.
    pooled = head_conv.in_channels if arch.head.kind == "fc" else arch.classes
    elements_per_step += sum(c.out_channels * c.size**2 for c in head.convs) + pooled
    macs_per_step = sum(layer.macs_per_step for layer in layers) + readout.macs_per_step
    steps = arch.time.steps
    input_elements = arch.input.channels * arch.input.size**2
    return ArchCost(
        arch_hash=arch.arch_hash,
        steps=steps,
        params=sum(layer.params for layer in layers) + readout.params,
        macs_per_step=macs_per_step,
        flops=steps * macs_per_step,
        activation_bytes=BYTES_PER_ELEMENT * (input_elements + steps * elements_per_step),
        readout_first_step=first["readout"],
        layers=tuple(layers),
        readout=readout,
    )


def human_count(n: float) -> str:
    """``1234567`` -> ``1.23M`` (k, M, G, T; three significant digits), the style of every
    table (search leaderboard included); any int, however large (``1e+400``)."""
    if _beyond_float(n):
        return f"{Decimal(n):.3g}"
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:g}"


def human_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KiB`` (binary units); any int, however large."""
    if _beyond_float(n):
        return f"{Decimal(n) / 1024**3:.3g} GiB"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.3g} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    raise AssertionError("unreachable")


def _beyond_float(n: float) -> bool:
    """An int too large for a float (past about 1.8e308): dividing or formatting it as one
    raises OverflowError, so it is written through Decimal (exact at any size)."""
    return isinstance(n, int) and abs(n) > _FLOAT_MAX


_FLOAT_MAX = int(sys.float_info.max)

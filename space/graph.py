"""Shapes and timing of an :class:`~space.arch.Arch` graph, shared by the cost model and torch.

Spatial arithmetic is TensorFlow's SAME padding, as in the papers' code: a stride-``s`` conv or a
``p`` x ``p`` max pool of stride ``p`` maps size ``n`` to ``ceil(n / s)``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from space.arch import Arch, Cell, FeedbackEdge, LayerArch


@dataclass(frozen=True)
class FeedbackGroup:
    """Feedback edges into one target sharing one projection conv (see ``FeedbackEdge``)."""

    target: str
    entry: str
    kernel: int
    depth_separable: bool
    activation: str
    sources: tuple[str, ...]
    in_channels: int
    out_channels: int


@dataclass(frozen=True)
class LayerShape:
    """Channels and spatial sizes of one layer; ``x`` is the conv output, ``y`` the cell output."""

    name: str
    index: int
    in_channels: int
    in_size: int
    x_channels: int
    size: int
    y_channels: int
    out_channels: int
    out_size: int
    first_signal: int
    feedback: tuple[FeedbackGroup, ...]


def cell_out_channels(cell: Cell, x_channels: int) -> int:
    depth = getattr(cell, "depth", None)
    return int(depth) if depth else x_channels


def conv_out(size: int, stride: int) -> int:
    return math.ceil(size / stride)


def layer_out_channels(layer: LayerArch) -> int:
    return layer.channels if layer.post_kernel else cell_out_channels(layer.cell, layer.channels)


def entry_channels(layer: LayerArch, entry: str) -> int:
    """Channels of the tensor that feedback is added to at ``entry``."""
    if entry == "input":
        return layer.channels
    if entry == "cell":
        return int(getattr(layer.cell, "cell_depth", 0))
    if layer.cell.kind == "rgc":
        return layer.channels
    return cell_out_channels(layer.cell, layer.channels)


def first_signal_steps(arch: Arch) -> dict[str, int]:
    """Step at which each layer (and ``readout``) first depends on the image.

    Biological unroll: every edge (feedforward or feedback) costs one step, so this is the
    shortest path from the image. Feedforward unroll: every layer sees the image at step 0.
    """
    names = [layer.name for layer in arch.layers]
    if arch.time.unroll == "feedforward":
        return {**dict.fromkeys(names, 0), "readout": 0}
    first: dict[str, float] = dict.fromkeys(names, math.inf)
    first[names[0]] = 0
    edges = list(itertools.pairwise(names))
    edges += [(e.source, e.target) for e in arch.feedback]
    for _ in range(len(names)):  # Bellman-Ford: unit weights, at most len(names) relaxations
        for src, dst in edges:
            first[dst] = min(first[dst], first[src] + 1)
    out = {name: int(step) for name, step in first.items()}
    out["readout"] = out[names[-1]] + 1
    return out


def feedback_groups(
    arch: Arch, target: LayerArch, out_channels: dict[str, int]
) -> list[FeedbackGroup]:
    """Group the edges into ``target`` by projection settings, sources in layer order."""
    groups: dict[tuple[str, int, bool, str], list[FeedbackEdge]] = {}
    for edge in arch.feedback:
        if edge.target == target.name:
            key = (edge.entry, edge.kernel, edge.depth_separable, edge.activation)
            groups.setdefault(key, []).append(edge)
    if not groups:  # the usual case: no per-layer work, so deep archs stay linear
        return []
    order = {layer.name: i for i, layer in enumerate(arch.layers)}
    result = []
    for (entry, kernel, ds, act), edges in sorted(groups.items()):
        sources = tuple(sorted((e.source for e in edges), key=order.__getitem__))
        result.append(
            FeedbackGroup(
                target.name,
                entry,
                kernel,
                ds,
                act,
                sources,
                sum(out_channels[s] for s in sources),
                entry_channels(target, entry),
            )
        )
    return result


def layer_shapes(arch: Arch) -> list[LayerShape]:
    """Per-layer channels, sizes, first-signal step and feedback groups, in layer order."""
    first = first_signal_steps(arch)
    out_ch = {layer.name: layer_out_channels(layer) for layer in arch.layers}
    shapes: list[LayerShape] = []
    channels, size = arch.input.channels, arch.input.size
    for i, layer in enumerate(arch.layers):
        conv_size = conv_out(size, layer.stride)
        shape = LayerShape(
            name=layer.name,
            index=i,
            in_channels=channels,
            in_size=size,
            x_channels=layer.channels,
            size=conv_size,
            y_channels=cell_out_channels(layer.cell, layer.channels),
            out_channels=out_ch[layer.name],
            out_size=conv_out(conv_size, layer.pool),
            first_signal=first[layer.name],
            feedback=tuple(feedback_groups(arch, layer, out_ch)),
        )
        shapes.append(shape)
        channels, size = shape.out_channels, shape.out_size
    return shapes


def _check_layer(layer: LayerArch, index: int) -> list[str]:
    problems = []
    where = f"layers.{index} ({layer.name})"
    if layer.post_kernel == 0 and layer.residual and layer.stride != 1:
        problems.append(
            f"{where}: residual needs stride 1 or a post conv (got stride {layer.stride})"
        )
    return problems


def check_arch_graph(arch: Arch) -> list[str]:
    """Every graph-level problem of an arch (names, edges, entries), as messages."""
    problems: list[str] = []
    names = [layer.name for layer in arch.layers]
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen or name == "readout":
            problems.append(f"layers.{i}.name: duplicate or reserved layer name {name!r}")
        seen.add(name)
    for i, layer in enumerate(arch.layers):
        problems += _check_layer(layer, i)
    pairs: set[tuple[str, str, str]] = set()
    for i, edge in enumerate(arch.feedback):
        label = f"feedback.{i} ({edge.source} -> {edge.target})"
        unknown = [n for n in (edge.source, edge.target) if n not in seen]
        if unknown:
            problems.append(f"{label}: unknown layer {', '.join(map(repr, unknown))}")
            continue
        if edge.source == edge.target:
            problems.append(
                f"{label}: an edge from a layer to itself (cells are recurrent already)"
            )
        if (edge.source, edge.target, edge.entry) in pairs:
            problems.append(f"{label}: duplicate edge")
        pairs.add((edge.source, edge.target, edge.entry))
        target = arch.layer(edge.target)
        if edge.entry == "cell" and not target.cell.has_memory:  # only an rgc has one
            problems.append(f"{label}: entry 'cell' needs an rgc target with memory")
    if not problems:
        problems += _check_time(arch)
    last = final_size(arch)
    if arch.head.kind == "conv" and arch.head.padding == "valid" and arch.head.kernel > last:
        problems.append(
            f"head.kernel: a valid {arch.head.kernel}x{arch.head.kernel} conv does not fit the "
            f"final {last}x{last} map"
        )
    return problems


def final_size(arch: Arch) -> int:
    """Spatial size of the last layer's output (no feedback or name checks needed)."""
    size = arch.input.size
    for layer in arch.layers:
        size = conv_out(conv_out(size, layer.stride), layer.pool)
    return size


def decode_window(arch: Arch) -> tuple[int, int]:
    """The steps ``[start, end)`` the readout decoder reads (``last``: the last step alone).

    ``start: auto`` is the readout's first sight of the image (``first_signal_steps``): steps
    before it cannot depend on the image. ``released`` is the released code's start: its graph's
    node count (the layers and the readout)."""
    readout, steps = arch.time.readout, arch.time.steps
    if readout.kind == "last":
        return steps - 1, steps
    start = readout.start
    if start == "auto":
        first = first_signal_steps(arch)["readout"]
    elif start == "released":
        first = len(arch.layers) + 1
    else:
        first = start
    end = steps if readout.end is None else readout.end
    return first, end


def _check_time(arch: Arch) -> list[str]:
    problems = _check_latency(arch)
    readout = arch.time.readout
    if problems or readout.kind == "last":
        return problems
    start, end = decode_window(arch)
    if readout.end is not None and readout.end > arch.time.steps:
        return [f"time.readout.end: {readout.end} is more than time.steps {arch.time.steps}"]
    if start >= end:
        return [
            f"time.readout: the window [{start}, {end}) is empty (start {readout.start!r}, "
            f"end {readout.end!r}, {arch.time.steps} steps)"
        ]
    return []


def _check_latency(arch: Arch) -> list[str]:
    """The readout must see the image within the unroll, and the image fit within it."""
    problems = []
    steps, image_off = arch.time.steps, arch.time.image_off
    if image_off is not None and image_off > steps:
        problems.append(f"time.image_off: {image_off} is more than time.steps {steps}")
    first = first_signal_steps(arch)["readout"]
    if first >= steps:
        problems.append(
            f"time.steps: the readout first sees the image at step {first} (every edge costs one "
            f"step), so {steps} steps never show it the image; use at least {first + 1}"
        )
    return problems

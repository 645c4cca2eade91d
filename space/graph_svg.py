"""Draw an :class:`~space.arch.Arch` layer graph as standalone SVG text (no torch, no tools).

Layers are boxes left to right (name, channels and size, cell kind), joined by feedforward arrows
from the image to the readout; feedback edges are arcs above the boxes, from source to target,
labelled with their entry point (and projection settings when not the plain 1x1).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from space.arch import Arch, Cell, FeedbackEdge, LayerArch
from space.graph import first_signal_steps, layer_shapes

BOX_W, BOX_H, GAP = 128, 86, 44  # a name and four lines of 15 px, with room below the last
MARGIN, ARC_STEP, LINE = 24, 34, 15
ENTRY_COLORS = {"input": "#1f77b4", "cell": "#9467bd", "out": "#d62728"}
CELL_FILL = {"none": "#f2f2f2", "rgc": "#fde8d7"}


@dataclass(frozen=True)
class Node:
    name: str
    lines: tuple[str, ...]
    kind: str


def cell_label(cell: Cell) -> str:
    if cell.kind == "rgc":
        depth = getattr(cell, "cell_depth", 0)
        has_memory = bool(getattr(cell, "has_memory", False))
        return f"rgc (memory {depth})" if has_memory else "rgc (no memory)"
    depth = getattr(cell, "depth", None)
    return f"{cell.kind} ({depth})" if depth else cell.kind


def _conv_label(layer: LayerArch) -> str:
    text = f"{layer.kernel}x{layer.kernel}"
    text += f"/{layer.stride}" if layer.stride > 1 else ""
    text += f" pool {layer.pool}" if layer.pool > 1 else ""
    text += " +res" if layer.residual else ""
    return text


def graph_nodes(arch: Arch) -> list[Node]:
    """The image, every layer and the readout, in order, with their text lines."""
    first = first_signal_steps(arch)
    size = arch.input.size
    nodes = [Node("image", (f"{arch.input.channels} ch", f"{size}x{size}"), "image")]
    for layer, shape in zip(arch.layers, layer_shapes(arch), strict=True):
        lines = (
            f"{shape.out_channels} ch {shape.size}"
            + (f" -> {shape.out_size} px" if shape.out_size != shape.size else " px"),
            _conv_label(layer),
            cell_label(layer.cell),
            f"first signal t={first[layer.name]}",
        )
        nodes.append(Node(layer.name, lines, layer.cell.kind))
    head = f"{arch.head.kind} -> {arch.classes}"
    nodes.append(Node("readout", (head, arch.time.readout.kind, f"T={arch.time.steps}"), "readout"))
    return nodes


def feedback_label(edge: FeedbackEdge) -> str:
    text = f"-> {edge.entry}"
    if edge.kernel != 1 or edge.depth_separable:
        text += f" {edge.kernel}x{edge.kernel}{' ds' if edge.depth_separable else ''}"
    if edge.activation != "identity":
        text += f" {edge.activation}"
    return text


def graph_data(arch: Arch) -> dict[str, Any]:
    """Nodes and edges as plain data (the ``--json`` form of the drawing)."""
    nodes = graph_nodes(arch)
    names = [n.name for n in nodes]
    return {
        "nodes": [{"name": n.name, "kind": n.kind, "lines": list(n.lines)} for n in nodes],
        "feedforward": [{"source": a, "target": b} for a, b in itertools.pairwise(names)],
        "feedback": [
            {"source": e.source, "target": e.target, "entry": e.entry, "label": feedback_label(e)}
            for e in arch.feedback
        ],
    }


def _text(x: float, y: float, text: str, **attrs: str) -> str:
    extra = "".join(f" {k.replace('_', '-')}={quoteattr(v)}" for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def _box(node: Node, x: float, y: float) -> str:
    fill = CELL_FILL.get(node.kind, "#e3f0fb" if node.kind not in ("image", "readout") else "#fff")
    parts = [
        f"<g class={quoteattr('node ' + node.kind)} data-name={quoteattr(node.name)}>",
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="8" '
        f'fill="{fill}" stroke="#333"/>',
        _text(x + BOX_W / 2, y + 17, node.name, font_weight="bold", text_anchor="middle"),
    ]
    for i, line in enumerate(node.lines):
        parts.append(_text(x + BOX_W / 2, y + 17 + LINE * (i + 1), line, text_anchor="middle"))
    parts.append("</g>")
    return "".join(parts)


def _arc_levels(arch: Arch, index: dict[str, int]) -> list[int]:
    """Stack arcs: shorter arcs lower; arcs that overlap in span get distinct levels."""
    order = sorted(
        range(len(arch.feedback)),
        key=lambda i: abs(index[arch.feedback[i].source] - index[arch.feedback[i].target]),
    )
    levels = [0] * len(arch.feedback)
    placed: list[tuple[int, int, int]] = []
    for i in order:
        a, b = sorted((index[arch.feedback[i].source], index[arch.feedback[i].target]))
        level = 1
        while any(lv == level and not (b < lo or a > hi) for lo, hi, lv in placed):
            level += 1
        levels[i] = level
        placed.append((a, b, level))
    return levels


def render_svg(arch: Arch, title: str | None = None) -> str:
    """The layer graph of ``arch`` as a standalone SVG document."""
    nodes = graph_nodes(arch)
    index = {n.name: i for i, n in enumerate(nodes)}
    levels = _arc_levels(arch, index)
    top = MARGIN + 22 + ARC_STEP * (max(levels, default=0) + 0.5)
    width = 2 * MARGIN + len(nodes) * BOX_W + (len(nodes) - 1) * GAP
    height = top + BOX_H + MARGIN + 20
    xs = [MARGIN + i * (BOX_W + GAP) for i in range(len(nodes))]
    heading = title or f"{_plural(len(arch.layers), 'layer')}, " + _plural(
        len(arch.feedback), "feedback edge"
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="11">',
        "<defs>",
        *(
            f'<marker id="arrow-{key}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{color}"/></marker>'
            for key, color in {"ff": "#333", **ENTRY_COLORS}.items()
        ),
        "</defs>",
        f"<title>{escape(heading)}</title>",
        _text(MARGIN, MARGIN, heading, font_size="13", font_weight="bold"),
    ]
    for i, (a, b) in enumerate(itertools.pairwise(nodes)):
        y = top + BOX_H / 2
        out.append(
            f'<path class="edge feedforward" data-source={quoteattr(a.name)} '
            f'data-target={quoteattr(b.name)} d="M{xs[i] + BOX_W:.1f},{y:.1f} '
            f'L{xs[i + 1] - 2:.1f},{y:.1f}" stroke="#333" stroke-width="1.5" '
            'marker-end="url(#arrow-ff)"/>'
        )
    for edge, level in zip(arch.feedback, levels, strict=True):
        out.append(_arc(edge, level, xs[index[edge.source]], xs[index[edge.target]], top))
    out += [_box(node, x, top) for node, x in zip(nodes, xs, strict=True)]
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _arc(edge: FeedbackEdge, level: int, x_source: float, x_target: float, top: float) -> str:
    color = ENTRY_COLORS[edge.entry]
    # leave from the source box's top-left quarter, land on the target's top-right quarter
    x0, x1 = x_source + BOX_W * 0.35, x_target + BOX_W * 0.65
    peak = top - ARC_STEP * level
    mid = (x0 + x1) / 2
    path = f"M{x0:.1f},{top:.1f} C{x0:.1f},{peak:.1f} {x1:.1f},{peak:.1f} {x1:.1f},{top - 2:.1f}"
    label_y = top - ARC_STEP * level * 0.75 - 4
    return (
        f'<g class="edge feedback" data-source={quoteattr(edge.source)} '
        f"data-target={quoteattr(edge.target)} data-entry={quoteattr(edge.entry)}>"
        f'<path d="{path}" fill="none" stroke="{color}" stroke-width="1.5" '
        f'stroke-dasharray="5,3" marker-end="url(#arrow-{edge.entry})"/>'
        + _text(
            mid,
            label_y,
            f"{edge.source} {feedback_label(edge)}",
            fill=color,
            text_anchor="middle",
            font_size="10",
        )
        + "</g>"
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")

"""A tiny line chart drawn as inline SVG on the server: no plotting library, no script.

Colours are the Okabe-Ito palette (distinguishable with every common colour-vision deficiency);
each series also gets its own dash pattern and point marker, so colour is never the only cue.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

from space.cost import human_count

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
DASHES = ("", "6,3", "2,3", "8,3,2,3")
WIDTH, HEIGHT = 560, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 120, 16, 40
Scale = Callable[[float], float]


@dataclass(frozen=True)
class Series:
    """One line: its legend label and (x, y) points (a None y leaves a gap)."""

    label: str
    points: Sequence[tuple[float, float | None]]


def _nice_step(span: float, count: int = 5) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving about ``count`` intervals."""
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw))


def _ticks(lo: float, hi: float, step: float) -> list[float]:
    first = math.ceil(lo / step - 1e-9)
    return [round(k * step, 12) for k in range(first, math.floor(hi / step + 1e-9) + 1)]


def _bounds(series: Sequence[Series]) -> tuple[float, float, float, float, float]:
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points if y is not None and math.isfinite(y)]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y0, y1 = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        pad = abs(y0) * 0.1 or 0.5
        y0, y1 = y0 - pad, y1 + pad
    step = _nice_step(y1 - y0)  # the y axis spans whole steps, so its ticks read round
    y0, y1 = math.floor(y0 / step + 1e-9) * step, math.ceil(y1 / step - 1e-9) * step
    return x0, x1, y0, y1, step


def _segments(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None or not math.isfinite(y):  # a gap, not a crash or a spike
            runs.append([])
        else:
            runs[-1].append((x, y))
    return [run for run in runs if run]


def line_chart(
    series: Sequence[Series], *, title: str, x_label: str, y_label: str, chart_id: str
) -> Markup:
    """An accessible SVG line chart (a ``<title>``, one ``g.series`` per line, a legend)."""
    px, py, out = _frame(_bounds(series), chart_id, title, (x_label, y_label))
    for i, one in enumerate(series):
        out.append(_series(i, one, px, py))
    out.append("</svg>")
    # Every text and attribute above is escaped (escape, quoteattr): safe to inline.
    return Markup("\n".join(out))  # noqa: S704


def _open(chart_id: str, title: str, height: int = HEIGHT) -> list[str]:
    """The opening of every chart: an accessible SVG with its title."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id={quoteattr(chart_id)} '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label={quoteattr(title)}>',
        f"<title>{escape(title)}</title>",
    ]


def _frame(
    box: tuple[float, float, float, float, float],
    chart_id: str,
    title: str,
    labels: tuple[str, str],
    x_format: Callable[[float], str] | None = None,
    integer_x: bool = True,
) -> tuple[Scale, Scale, list[str]]:
    """The x and y scales of a plot over ``box`` and its opening: title, plot area, axes."""
    x0, x1, y0, y1, _ = box
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return TOP + (1 - (y - y0) / (y1 - y0)) * plot_h

    head = [
        *_open(chart_id, title),
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="plot-area"/>',
        *_axes(box, px, py, labels[0], labels[1], x_format, integer_x),
    ]
    return px, py, head


def _axes(
    box: tuple[float, float, float, float, float],
    px: Scale,
    py: Scale,
    x_label: str,
    y_label: str,
    x_format: Callable[[float], str] | None = None,
    integer_x: bool = True,
) -> list[str]:
    """``integer_x=False``: a score axis, whose 0 to 1 still gets fractional ticks."""
    x0, x1, y0, y1, y_step = box
    bottom = HEIGHT - BOTTOM
    out: list[str] = []
    integer_x = integer_x and float(x0).is_integer() and float(x1).is_integer() and x1 - x0 <= 20
    if integer_x:
        xs = [float(v) for v in range(int(x0), int(x1) + 1)]
    else:
        xs = _ticks(x0, x1, _nice_step(x1 - x0))
    for x in xs:
        label = x_format(x) if x_format else f"{x:.0f}" if integer_x else f"{x:.3g}"
        out.append(
            f'<line x1="{px(x):.1f}" y1="{bottom}" x2="{px(x):.1f}" y2="{bottom + 4}" '
            f'class="tick"/><text x="{px(x):.1f}" y="{bottom + 16}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    for y in _ticks(y0, y1, y_step):
        out.append(
            f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{WIDTH - RIGHT}" y2="{py(y):.1f}" '
            f'class="grid"/><text x="{LEFT - 6}" y="{py(y) + 4:.1f}" text-anchor="end">'
            f"{y:.3g}</text>"
        )
    out.append(
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2:.0f}" y="{HEIGHT - 6}" '
        f'text-anchor="middle" class="axis-label">{escape(x_label)}</text>'
    )
    out.append(
        f'<text transform="translate(12 {TOP + (HEIGHT - TOP - BOTTOM) / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle" class="axis-label">{escape(y_label)}</text>'
    )
    return out


def _series(i: int, one: Series, px: Scale, py: Scale) -> str:
    color = PALETTE[i % len(PALETTE)]
    dash = DASHES[i % len(DASHES)]
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    parts = [f'<g class="series" data-label={quoteattr(one.label)}>']
    for run in _segments(one.points):
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in run)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash_attr}/>'
        )
        parts += [_marker(i, px(x), py(y), color) for x, y in run]
    legend_y = TOP + 14 + 16 * i
    legend_x = WIDTH - RIGHT + 10
    parts.append(
        f'<line x1="{legend_x}" y1="{legend_y - 4}" x2="{legend_x + 22}" y2="{legend_y - 4}" '
        f'stroke="{color}" stroke-width="2"{dash_attr}/>'
        f'<text x="{legend_x + 27}" y="{legend_y}">{escape(one.label)}</text>'
    )
    parts.append("</g>")
    return "".join(parts)


def _marker(i: int, x: float, y: float, color: str) -> str:
    # Circles, squares and diamonds in turn: the shape, too, tells the series apart.
    shape = i % 3
    if shape == 0:
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>'
    if shape == 1:
        return f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="{color}"/>'
    return (
        f'<path d="M{x:.1f},{y - 4:.1f} L{x + 4:.1f},{y:.1f} L{x:.1f},{y + 4:.1f} '
        f'L{x - 4:.1f},{y:.1f} z" fill="{color}"/>'
    )


@dataclass(frozen=True)
class Point:
    """One trial in a scatter: where it lies, where it links, and whether it is on the front."""

    x: float
    y: float
    href: str
    label: str
    front: bool


def scatter(
    points: Sequence[Point], *, title: str, x_label: str, y_label: str, log_x: bool = True
) -> Markup:
    """Trials as linked points (keyboard-reachable) on a log x axis (sizes span decades) or,
    with ``log_x=False``, a linear one (a score); the front's points are orange diamonds joined
    by a line, the others small blue circles (shape and colour both differ)."""
    if log_x:
        points = [replace(p, x=math.log10(max(p.x, 1.0))) for p in points]
    _, _, y0, y1, y_step = _bounds([Series("", [(p.x, p.y) for p in points])])
    box, x_format = _scatter_x(points, log_x), _power_of_ten if log_x else None
    labels = (x_label, y_label)
    px, py, out = _frame((*box, y0, y1, y_step), "chart-pareto", title, labels, x_format, log_x)
    front = sorted((p for p in points if p.front), key=lambda p: p.x)
    if len(front) > 1:
        line = " ".join(f"{px(p.x):.1f},{py(p.y):.1f}" for p in front)
        out.append(f'<polyline points="{line}" fill="none" stroke="{PALETTE[1]}" '
                   'stroke-width="1.5"/>')  # fmt: skip
    for p in sorted(points, key=lambda p: p.front):  # the front drawn last, on top
        shape = (
            _marker(2, px(p.x), py(p.y), PALETTE[1])
            if p.front
            else _marker(0, px(p.x), py(p.y), PALETTE[0])
        )
        out.append(
            f'<a href={quoteattr(p.href)} class="point{" front" if p.front else ""}">'
            f"<title>{escape(p.label)}</title>{shape}</a>"
        )
    legend_x = WIDTH - RIGHT + 10
    out += [
        _marker(2, legend_x + 4, TOP + 10, PALETTE[1]),
        f'<text x="{legend_x + 14}" y="{TOP + 14}">Pareto front</text>',
        _marker(0, legend_x + 4, TOP + 28, PALETTE[0]),
        f'<text x="{legend_x + 14}" y="{TOP + 32}">other trials</text>',
        "</svg>",
    ]
    # Every text and attribute above is escaped (escape, quoteattr): safe to inline.
    return Markup("\n".join(out))  # noqa: S704


def _scatter_x(points: Sequence[Point], log_x: bool) -> tuple[float, float]:
    """The x range: whole decades on a log axis, round steps around the values on a linear one."""
    lo, hi = min(p.x for p in points), max(p.x for p in points)
    if log_x:
        return float(math.floor(lo)), float(max(math.ceil(hi), math.floor(lo) + 1))
    if hi == lo:
        pad = abs(lo) * 0.1 or 0.5
        lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo)
    return math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step


def _power_of_ten(exponent: float) -> str:
    return human_count(round(10**exponent))


def step_chart(
    steps: Sequence[tuple[float, float]],
    last: float,
    *,
    title: str,
    x_label: str,
    y_label: str,
    chart_id: str,
) -> Markup:
    """The best value so far as a step line: it holds each best until the next improvement
    (a diamond marks each) and runs on to the ``last`` trial."""
    x_end = max(last, steps[-1][0])
    box = _bounds([Series("", [*steps, (x_end, steps[-1][1])])])
    px, py, out = _frame(box, chart_id, title, (x_label, y_label))
    corners: list[str] = []
    for i, (x, y) in enumerate(steps):
        if i:
            corners.append(f"{px(x):.1f},{py(steps[i - 1][1]):.1f}")
        corners.append(f"{px(x):.1f},{py(y):.1f}")
    corners.append(f"{px(x_end):.1f},{py(steps[-1][1]):.1f}")
    color = PALETTE[0]
    out += [
        f'<g class="series" data-label="best so far"><polyline points="{" ".join(corners)}" '
        f'fill="none" stroke="{color}" stroke-width="2"/>',
        *(
            f'<g class="step" data-trial="{x:.0f}"><title>trial {x:.0f}: {y:.4g}</title>'
            f"{_marker(2, px(x), py(y), color)}</g>"
            for x, y in steps
        ),
        "</g>",
        f'<line x1="{WIDTH - RIGHT + 10}" y1="{TOP + 10}" x2="{WIDTH - RIGHT + 32}" '
        f'y2="{TOP + 10}" stroke="{color}" stroke-width="2"/>'
        f'<text x="{WIDTH - RIGHT + 37}" y="{TOP + 14}">best so far</text>',
        _marker(2, WIDTH - RIGHT + 14, TOP + 28, color),
        f'<text x="{WIDTH - RIGHT + 22}" y="{TOP + 32}">improvement</text>',
        "</svg>",
    ]
    # Every text and attribute above is escaped (escape, quoteattr): safe to inline.
    return Markup("\n".join(out))  # noqa: S704


@dataclass(frozen=True)
class Spread:
    """One row of a range chart: a label and its five-number summary."""

    label: str
    count: int
    low: float
    q1: float
    median: float
    q3: float
    high: float


ROW, LABEL_W = 26, 150


def range_chart(rows: Sequence[Spread], *, title: str, x_label: str, chart_id: str) -> Markup:
    """One horizontal box per row: a line from min to max, a box from the first to the third
    quartile, a black median bar and the count at the right (the shapes carry the meaning, the
    colours only tell rows apart)."""
    lo = min(r.low for r in rows)
    hi = max(r.high for r in rows)
    _, _, x0, x1, step = _bounds([Series("", [(0.0, lo), (1.0, hi)])])
    height = TOP + ROW * len(rows) + BOTTOM
    right = WIDTH - 70
    plot_w = right - LABEL_W

    def px(x: float) -> float:
        return LABEL_W + (x - x0) / (x1 - x0) * plot_w

    out = _open(chart_id, title, height)
    bottom = height - BOTTOM
    for x in _ticks(x0, x1, step):
        out.append(
            f'<line x1="{px(x):.1f}" y1="{TOP}" x2="{px(x):.1f}" y2="{bottom}" class="grid"/>'
            f'<text x="{px(x):.1f}" y="{bottom + 16}" text-anchor="middle">{x:.3g}</text>'
        )
    out.append(
        f'<text x="{LABEL_W + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle" '
        f'class="axis-label">{escape(x_label)}</text>'
    )
    for i, r in enumerate(rows):
        mid = TOP + ROW * i + ROW / 2
        color = PALETTE[i % len(PALETTE)]
        out.append(
            f'<g class="spread" data-label={quoteattr(r.label)} data-count="{r.count}">'
            f"<title>{escape(r.label)}: {r.count} trials, min {r.low:.4g}, quartiles "
            f"{r.q1:.4g} / {r.median:.4g} / {r.q3:.4g}, max {r.high:.4g}</title>"
            f'<text x="{LABEL_W - 6}" y="{mid + 4:.1f}" text-anchor="end">{escape(r.label)}</text>'
            f'<line x1="{px(r.low):.1f}" y1="{mid:.1f}" x2="{px(r.high):.1f}" y2="{mid:.1f}" '
            f'stroke="#000000" stroke-width="1"/>'
            f'<rect x="{px(r.q1):.1f}" y="{mid - 7:.1f}" width="{max(px(r.q3) - px(r.q1), 1):.1f}" '
            f'height="14" fill="{color}" fill-opacity="0.55" stroke="{color}"/>'
            f'<line x1="{px(r.median):.1f}" y1="{mid - 9:.1f}" x2="{px(r.median):.1f}" '
            f'y2="{mid + 9:.1f}" stroke="#000000" stroke-width="3"/>'
            f'<text x="{right + 8}" y="{mid + 4:.1f}">n={r.count:,}</text></g>'
        )
    out.append("</svg>")
    # Every text and attribute above is escaped (escape, quoteattr): safe to inline.
    return Markup("\n".join(out))  # noqa: S704

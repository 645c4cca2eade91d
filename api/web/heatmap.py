"""The trial page's neural fit (issue 14): one heat map per recorded region of the ceiling-
normalised fit over the model's layers (rows) and the response's time bins (columns), drawn as
inline SVG on the server like the other charts (no script, no plotting library).

Colour is a sequential scale (viridis stops: ordered in lightness, readable with every common
colour-vision deficiency); every cell also prints its value and has a ``<title>`` (shown on
hover) with the layer, the bin, the normalised and the raw fit. A bin whose ceiling is too low to
normalise by (``normalized: null``) is a hatched grey cell, never a colour. The best cell (the
objective) is outlined. The input is the ``neural`` table a trial records
(``workers.neural.score.NeuralScores.to_json``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

# viridis at 9 evenly spaced points (matplotlib's table), dark to light
VIRIDIS = (
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 144, 141),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
)
NULL_FILL = "#d9d9d9"
LEFT, TOP, RIGHT, BOTTOM = 96, 34, 104, 44
CELL_W_MAX, CELL_W_MIN, CELL_H = 56, 22, 26
PLOT_W = 420
MAX_BINS_LABELLED = 16  # more columns than this: every other bin label


@dataclass(frozen=True)
class FitCell:
    layer: str
    bin: int
    bin_ms: float | None
    raw: float | None
    normalized: float | None


@dataclass(frozen=True)
class RegionFit:
    """One region's table: layers in model order, bins in time order, the cells between."""

    region: str
    layers: list[str]
    bins: list[tuple[int, float | None]]
    cells: dict[tuple[str, int], FitCell]
    ceilings: dict[int, float | None]
    best: tuple[str, int] | None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def region_fits(table: Mapping[str, Any] | None) -> list[RegionFit]:
    """The recorded table, per region (in the order the rows name them). Rows that do not
    have the documented shape are skipped: a page must render whatever a record holds."""
    if not isinstance(table, Mapping):
        return []
    rows = table.get("rows")
    per_region: dict[str, list[FitCell]] = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, Mapping):
            continue
        layer, region, b = row.get("layer"), row.get("region"), _int(row.get("bin"))
        if not isinstance(layer, str) or not isinstance(region, str) or b is None:
            continue
        cell = FitCell(
            layer,
            b,
            _number(row.get("bin_ms")),
            _number(row.get("raw")),
            _number(row.get("normalized")),
        )
        per_region.setdefault(region, []).append(cell)
    ceilings = _ceilings(table.get("ceiling"))
    best = _mapping(table.get("best"))
    out = []
    for region, cells in per_region.items():
        layers = list(dict.fromkeys(c.layer for c in cells))
        bins = sorted({(c.bin, c.bin_ms) for c in cells}, key=lambda b: b[0])
        bins = list({b: (b, ms) for b, ms in bins}.values())
        at = None
        if best.get("region") == region and _int(best.get("bin")) is not None:
            at = (str(best.get("layer")), int(best["bin"]))
        out.append(
            RegionFit(
                region,
                layers,
                bins,
                {(c.layer, c.bin): c for c in cells},
                ceilings.get(region, {}),
                at,
            )
        )
    return out


def _ceilings(rows: Any) -> dict[str, dict[int, float | None]]:
    out: dict[str, dict[int, float | None]] = {}
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, Mapping) and isinstance(row.get("region"), str):
            b = _int(row.get("bin"))
            if b is not None:
                out.setdefault(row["region"], {})[b] = _number(row.get("value"))
    return out


def colour(t: float) -> str:
    """The viridis colour at ``t`` in [0, 1] (clamped), as #rrggbb."""
    t = min(1.0, max(0.0, t)) * (len(VIRIDIS) - 1)
    i = min(int(t), len(VIRIDIS) - 2)
    f = t - i
    a, b = VIRIDIS[i], VIRIDIS[i + 1]
    r, g, bl = (round(x + (y - x) * f) for x, y in zip(a, b, strict=True))
    return f"#{r:02x}{g:02x}{bl:02x}"


def _ink(t: float) -> str:
    """Text colour readable on the cell: white on the dark half of viridis, black above."""
    return "#ffffff" if t < 0.55 else "#000000"


def _domain(fits: Sequence[RegionFit]) -> tuple[float, float]:
    """0 to 1 (none to the data's own reliability), widened to hold every value: one scale
    for every region of the page, so that colours compare across regions."""
    values = [c.normalized for f in fits for c in f.cells.values() if c.normalized is not None]
    lo = min([0.0, *values])
    hi = max([1.0, *values])
    return lo, hi


def _bin_label(b: int, ms: float | None) -> str:
    return f"{ms:g} ms" if ms is not None else f"bin {b}"


def heatmap(fit: RegionFit, domain: tuple[float, float], chart_id: str) -> Markup:
    """One region's heat map: a cell per layer and bin, the colour legend on the right."""
    lo, hi = domain
    n_bins, n_layers = max(1, len(fit.bins)), max(1, len(fit.layers))
    cell_w = max(CELL_W_MIN, min(CELL_W_MAX, PLOT_W // n_bins))
    width = LEFT + cell_w * n_bins + RIGHT
    height = TOP + CELL_H * n_layers + BOTTOM
    title = f"Neural fit of {fit.region}: ceiling-normalised, per layer and time bin"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart heatmap" id={quoteattr(chart_id)} '
        f'viewBox="0 0 {width} {height}" role="img" aria-label={quoteattr(title)} '
        f"data-region={quoteattr(fit.region)}>",
        f"<title>{escape(title)}</title>",
        _hatch(chart_id),
        f'<text x="{LEFT}" y="16" class="axis-label">{escape(fit.region)}: layer (rows) by '
        "time bin (columns)</text>",
    ]
    for j, name in enumerate(fit.layers):
        y = TOP + j * CELL_H
        out.append(
            f'<text x="{LEFT - 6}" y="{y + CELL_H / 2 + 4:.1f}" text-anchor="end">'
            f"{escape(name)}</text>"
        )
        for i, (b, ms) in enumerate(fit.bins):
            out.append(_cell(fit, name, b, ms, LEFT + i * cell_w, y, cell_w, (lo, hi), chart_id))
    step = 1 if n_bins <= MAX_BINS_LABELLED else 2
    for i, (b, ms) in enumerate(fit.bins):
        if i % step:
            continue
        x = LEFT + i * cell_w + cell_w / 2
        label = f"{ms:g}" if ms is not None else str(b)
        out.append(
            f'<text x="{x:.1f}" y="{TOP + CELL_H * n_layers + 14}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    unit = "time bin (ms after onset)" if any(ms is not None for _, ms in fit.bins) else "time bin"
    out.append(
        f'<text x="{LEFT + cell_w * n_bins / 2:.1f}" y="{height - 8}" text-anchor="middle" '
        f'class="axis-label">{escape(unit)}</text>'
    )
    out.append(_legend(LEFT + cell_w * n_bins + 24, TOP, CELL_H * n_layers, (lo, hi), chart_id))
    out.append("</svg>")
    # Every text and attribute above is escaped (escape, quoteattr): safe to inline.
    return Markup("\n".join(out))  # noqa: S704


def _hatch(chart_id: str) -> str:
    return (
        f'<defs><pattern id={quoteattr(chart_id + "-null")} width="6" height="6" '
        'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="{NULL_FILL}"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#8c8c8c" stroke-width="2"/></pattern>'
        f"{_gradient(chart_id)}</defs>"
    )


def _gradient(chart_id: str) -> str:
    last = len(VIRIDIS) - 1
    stops = "".join(
        f'<stop offset="{k / last:.3f}" stop-color="{colour(k / last)}"/>' for k in range(last + 1)
    )
    # bottom (offset 0) is the low end: the legend reads upwards like a y axis
    return (
        f'<linearGradient id={quoteattr(chart_id + "-scale")} x1="0" y1="1" x2="0" y2="0">'
        f"{stops}</linearGradient>"
    )


def _cell(
    fit: RegionFit,
    layer: str,
    b: int,
    ms: float | None,
    x: float,
    y: float,
    w: float,
    domain: tuple[float, float],
    chart_id: str,
) -> str:
    lo, hi = domain
    cell = fit.cells.get((layer, b))
    value = cell.normalized if cell else None
    raw = cell.raw if cell else None
    ceiling = fit.ceilings.get(b)
    where = f"{layer}, {_bin_label(b, ms)}"
    if value is None:
        why = "not fit" if cell is None else "ceiling too low to normalise"
        tip = f"{where}: normalised fit — ({why}); raw r {_fmt(raw)}; ceiling {_fmt(ceiling)}"
        fill, text, ink = f"url(#{chart_id}-null)", "", "#000000"
    else:
        t = (value - lo) / (hi - lo) if hi > lo else 0.0
        tip = f"{where}: normalised fit {value:.3f}; raw r {_fmt(raw)}; ceiling {_fmt(ceiling)}"
        fill, text, ink = colour(t), f"{value:.2f}", _ink(t)
    best = fit.best == (layer, b)
    cls = "cell best" if best else "cell"
    stroke = 'stroke="#000000" stroke-width="2.5"' if best else 'stroke="#ffffff" stroke-width="1"'
    parts = [
        f'<g class={quoteattr(cls)} data-layer={quoteattr(layer)} data-bin="{b}"'
        f" data-value={quoteattr('' if value is None else f'{value:.6g}')}>",
        f"<title>{escape(tip + (' (best: the objective)' if best else ''))}</title>",
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{CELL_H}" fill="{fill}" {stroke}/>',
    ]
    if text and w >= 30:
        parts.append(
            f'<text x="{x + w / 2:.1f}" y="{y + CELL_H / 2 + 4:.1f}" text-anchor="middle" '
            f'class="cell-value" fill="{ink}">{text}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _legend(x: float, y: float, h: float, domain: tuple[float, float], chart_id: str) -> str:
    lo, hi = domain
    h = max(h, 60.0)
    parts = [
        '<g class="legend" aria-label='
        + quoteattr(f"colour scale: ceiling-normalised fit from {lo:g} to {hi:g}")
        + ">",
        f'<rect x="{x:.1f}" y="{y:.1f}" width="14" height="{h:.1f}" '
        f'fill="url(#{chart_id}-scale)" stroke="#666666"/>',
    ]
    for v in _legend_ticks(lo, hi):
        ty = y + (1 - (v - lo) / (hi - lo)) * h
        parts.append(
            f'<line x1="{x + 14:.1f}" x2="{x + 18:.1f}" y1="{ty:.1f}" y2="{ty:.1f}" '
            'stroke="#666666"/>'
            f'<text x="{x + 21:.1f}" y="{ty + 4:.1f}">{v:g}</text>'
        )
    ny = y + h + 8
    parts.append(
        f'<rect x="{x:.1f}" y="{ny:.1f}" width="14" height="10" fill="url(#{chart_id}-null)" '
        'stroke="#666666"/>'
        f'<text x="{x + 21:.1f}" y="{ny + 9:.1f}">no ceiling</text>'
    )
    parts.append("</g>")
    return "".join(parts)


def _legend_ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    step = 0.25 if span <= 1.5 else 0.5 if span <= 3 else 1.0
    first = math.ceil(lo / step - 1e-9)
    return [round(k * step, 6) for k in range(first, math.floor(hi / step + 1e-9) + 1)]


def neural_heatmaps(table: Mapping[str, Any] | None, prefix: str = "neural") -> list[Markup]:
    """One heat map per region of a trial's recorded ``neural`` table (empty without one)."""
    fits = region_fits(table)
    domain = _domain(fits)
    return [heatmap(fit, domain, f"{prefix}-{i}") for i, fit in enumerate(fits)]


def neural_summary(table: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the page prints beside the maps: the best cell and the fit's time (or None)."""
    if not isinstance(table, Mapping):
        return None
    best = _mapping(table.get("best"))
    return {
        "region": best.get("region"),
        "layer": best.get("layer"),
        "bin": best.get("bin"),
        "bin_ms": _number(best.get("bin_ms")),
        "normalized": _number(best.get("normalized")),
        "raw": _number(best.get("raw")),
        "seconds": _number(table.get("seconds")),
    }

"""The trial page's neural fit heat map (issue 14): drawn from a recorded ``neural`` table, a
cell per layer and time bin per region, values on hover, a colour legend; the page and its API
record show the table of a trial that has one."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from api.web.heatmap import colour, neural_heatmaps, region_fits
from search.records.db import Trial, session_scope
from tests.api.api_helpers import API, make_client
from tests.search.service_helpers import populate
from tests.web.web_helpers import add_trial, feedback_arch

SVG = "{http://www.w3.org/2000/svg}"
LAYERS = ["conv1", "conv2", "conv3"]
BINS_MS = [70.0, 90.0, 110.0, 130.0]


def recorded_table(regions: tuple[str, ...] = ("V4", "IT")) -> dict[str, Any]:
    """A ``neural`` table as workers.neural.score.NeuralScores.to_json writes it: IT is fit
    best at conv3 and 110 ms; V4's first bin has no usable ceiling (normalized null)."""
    rows = []
    for li, layer in enumerate(LAYERS):
        for b, ms in enumerate(BINS_MS):
            for region in regions:
                peak = 2 if region == "IT" else 0
                value = round(math.exp(-((li - peak) ** 2) - (b - 2) ** 2 / 4), 4)
                null = region == "V4" and b == 0
                rows.append(
                    {"layer": layer, "region": region, "bin": b, "bin_ms": ms, "steps": [b],
                     "raw": round(0.5 * value, 4), "normalized": None if null else value}
                )  # fmt: skip
    ceiling = [
        {"region": r, "bin": b, "value": 0.05 if (r == "V4" and b == 0) else 0.5}
        for r in regions
        for b in range(len(BINS_MS))
    ]
    best = {"region": "IT", "layer": "conv3", "bin": 2, "bin_ms": 110.0, "normalized": 1.0,
            "raw": 0.5}  # fmt: skip
    return {"format": "convnas.neural/1", "region": "IT", "objective": 1.0, "best": best,
            "rows": rows, "ceiling": ceiling, "seconds": 1.25}  # fmt: skip


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # our own output, not untrusted XML


def cells(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if "cell" in g.get("class", "").split()]


def test_one_map_per_region_with_a_cell_per_layer_and_bin() -> None:
    maps = neural_heatmaps(recorded_table(), prefix="t")
    assert len(maps) == 2
    for svg, region in zip(maps, ("V4", "IT"), strict=True):
        root = parse(str(svg))
        assert root.get("data-region") == region
        found = cells(root)
        assert len(found) == len(LAYERS) * len(BINS_MS)
        assert {(g.get("data-layer"), g.get("data-bin")) for g in found} == {
            (layer, str(b)) for layer in LAYERS for b in range(len(BINS_MS))
        }
        texts = [t.text for t in root.iter(f"{SVG}text")]
        assert all(layer in texts for layer in LAYERS)  # row labels
        assert all(f"{ms:g}" in texts for ms in BINS_MS)  # column labels (ms)
        assert "time bin (ms after onset)" in texts


def test_each_cell_tells_its_values_on_hover_and_the_best_is_outlined() -> None:
    it = parse(str(neural_heatmaps(recorded_table(), prefix="t")[1]))
    by_key = {(g.get("data-layer"), g.get("data-bin")): g for g in cells(it)}
    best = by_key[("conv3", "2")]
    assert "best" in best.get("class", "")
    title = best.find(f"{SVG}title")
    assert title is not None and title.text is not None
    assert "conv3, 110 ms: normalised fit 1.000; raw r 0.500; ceiling 0.500" in title.text
    assert [g for g in cells(it) if "best" in g.get("class", "")] == [best]
    rect = best.find(f"{SVG}rect")
    assert rect is not None and rect.get("fill") == colour(1.0)  # top of the scale
    low = by_key[("conv1", "0")]
    low_rect = low.find(f"{SVG}rect")
    assert low_rect is not None and low_rect.get("fill") != rect.get("fill")
    printed = [t.text for t in best.iter(f"{SVG}text")]
    assert printed == ["1.00"]


def test_a_bin_without_a_ceiling_is_hatched_not_coloured() -> None:
    v4 = parse(str(neural_heatmaps(recorded_table(), prefix="t")[0]))
    null_cells = [g for g in cells(v4) if g.get("data-value") == ""]
    assert len(null_cells) == len(LAYERS)  # bin 0 of every layer
    for g in null_cells:
        rect = g.find(f"{SVG}rect")
        title = g.find(f"{SVG}title")
        assert rect is not None and rect.get("fill") == "url(#t-0-null)"
        assert title is not None and "ceiling too low" in (title.text or "")


def test_the_legend_shows_the_colour_scale_and_the_null_swatch() -> None:
    root = parse(str(neural_heatmaps(recorded_table(), prefix="t")[1]))
    legend = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "legend")
    assert "ceiling-normalised fit from 0 to 1" in (legend.get("aria-label") or "")
    ticks = [t.text for t in legend.iter(f"{SVG}text")]
    assert ticks == ["0", "0.25", "0.5", "0.75", "1", "no ceiling"]
    gradient = next(root.iter(f"{SVG}linearGradient"))
    assert gradient.get("id") == "t-1-scale"
    stops = [s.get("stop-color") for s in gradient.iter(f"{SVG}stop")]
    assert stops[0] == colour(0.0) and stops[-1] == colour(1.0) and len(stops) == 9


def test_values_beyond_one_widen_the_scale_for_every_region() -> None:
    table = recorded_table()
    table["rows"][0]["normalized"] = 1.6  # noisy data can exceed the ceiling
    table["rows"][1]["normalized"] = -0.3
    for svg in neural_heatmaps(table, prefix="t"):
        legend = next(g for g in parse(str(svg)).iter(f"{SVG}g") if g.get("class") == "legend")
        assert "from -0.3 to 1.6" in (legend.get("aria-label") or "")


def test_hostile_names_are_escaped_and_bad_rows_skipped() -> None:
    table = recorded_table(("IT",))
    table["rows"].append({"layer": "<script>x</script>", "region": "IT", "bin": 0,
                          "bin_ms": 70.0, "raw": 0.1, "normalized": 0.2})  # fmt: skip
    table["rows"] += [{"layer": 3, "region": "IT", "bin": 0}, "junk", {"region": "IT"}]
    [svg] = neural_heatmaps(table, prefix="t")
    assert "<script>" not in str(svg) and "&lt;script&gt;" in str(svg)
    assert len(cells(parse(str(svg)))) == (len(LAYERS) + 1) * len(BINS_MS)
    assert neural_heatmaps(None) == [] and neural_heatmaps({"rows": "nope"}) == []
    assert region_fits({"rows": []}) == []


@pytest.fixture
def recorded(db_url: str, engine: Engine) -> Iterator[tuple[TestClient, int, dict[str, Any]]]:
    """The app on a database with trial 3 holding a recorded neural table (trial 0 none)."""
    search_id = populate(engine)
    arch = feedback_arch()
    add_trial(engine, search_id, 3, arch)
    table = recorded_table()
    with session_scope(engine) as s:
        s.execute(
            update(Trial)
            .where(Trial.search_id == search_id, Trial.number == 3)
            .values(neural=table, neural_fit=1.0)
        )
    with make_client(db_url) as client:
        yield client, search_id, table


def test_the_api_record_returns_the_table(recorded) -> None:
    client, search_id, table = recorded
    body = client.get(f"{API}/searches/{search_id}/trials/3").json()
    assert body["neural_fit"] == 1.0 and body["neural"] == table
    none = client.get(f"{API}/searches/{search_id}/trials/0").json()
    assert none["neural"] is None and none["neural_fit"] is None


def test_the_trial_page_draws_the_maps_of_a_recorded_table(recorded) -> None:
    client, search_id, _table = recorded
    page = client.get(f"/searches/{search_id}/trials/3")
    assert page.status_code == 200
    html = page.text
    assert 'id="neural-heading"' in html
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart heatmap"') == 2
    assert html.count('<g class="cell') == 2 * len(LAYERS) * len(BINS_MS)
    assert "Best: <strong>1.000</strong> at conv3, 110 ms (IT; raw r 0.500); fit in 1.2s" in html
    assert '<dt>Neural fit (IT)</dt><dd><a href="#neural">1.000</a>' in html
    plain = client.get(f"/searches/{search_id}/trials/0").text
    assert "neural-heading" not in plain and "Neural fit" not in plain

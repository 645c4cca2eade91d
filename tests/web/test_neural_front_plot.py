"""The search page's front plot for a search with a neural_fit objective (issue 14): val_acc
against the neural fit on a linear axis, the Pareto front (recomputed by search.records.pareto in
that space) joined in it; a val_acc search keeps its accuracy-against-parameters plot. Served by the
real app on a recorded search in SQLite; the browser case takes a screenshot for a person to
look at (the test's tmp_path and, when the notes folder exists, /work/notes/screenshots)."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.settings import ApiSettings
from search import service
from search.records.db import Trial, create_db_engine, session_scope
from search.records.lifecycle import create_search
from search.records.pareto import update_pareto
from space.cost import cost
from space.sampling import RandomSampler, freeze
from space.spec import spec_from_data
from tests.search.search_helpers import spec_data
from tests.search.service_helpers import populate

SVG = "{http://www.w3.org/2000/svg}"
# (val_acc, neural_fit): 0, 1 and 2 make the front in that space; 3 is dominated by 1, 4 by
# all three. Trial 2 is on the front only for its fit (the case the params plot drew badly).
RECORDED = [(0.90, 0.40), (0.70, 0.80), (0.33, 0.95), (0.60, 0.50), (0.30, 0.30)]
FRONT = {0, 1, 2}


def record_neural_search(engine: Engine) -> int:
    """A finished-looking search with objectives val_acc and neural_fit (IT), five trials."""
    data = spec_data(
        name="fit_front", trials=5,
        objectives=[{"metric": "val_acc"}, {"metric": "neural_fit", "region": "IT"}],
    )  # fmt: skip
    data["neural"] = {"data": "neural:/nonexistent/recorded.npz", "layers": "all"}
    spec = spec_from_data(data)
    search_id = create_search(engine, spec)
    with session_scope(engine) as s:
        for number, (acc, fit) in enumerate(RECORDED):
            arch = freeze(spec, RandomSampler(number))
            c = cost(arch)
            s.add(
                Trial(
                    search_id=search_id, number=number, status="completed", arch=arch.to_dict(),
                    arch_hash=arch.arch_hash, config_hash=arch.config_hash, params={},
                    n_params=c.params, flops=c.flops, activation_memory=c.activation_bytes,
                    best_val_acc=acc, last_val_acc=acc, epochs=2, pareto=False, neural_fit=fit,
                )
            )  # fmt: skip
        s.flush()
        update_pareto(s, search_id, spec.objectives)
    return search_id


def chart(html: str) -> ET.Element:
    found = re.search(r'<svg [^>]*id="chart-pareto".*?</svg>', html, re.S)
    assert found, "the page has no front plot"
    return ET.fromstring(found.group(0))  # our own output, not untrusted XML


def points(svg: ET.Element) -> dict[int, tuple[float, float, bool]]:
    """Trial number -> (x, y) in SVG pixels and whether it is drawn on the front."""
    out = {}
    for a in svg.iter(f"{SVG}a"):
        number = int(a.get("href", "").rsplit("/", 1)[1])
        shape = next(iter(a.iter(f"{SVG}circle")), None)
        if shape is not None:
            out[number] = (float(shape.get("cx", "")), float(shape.get("cy", "")), False)
        else:  # the front's diamond: "M{x},{y - 4} ..."
            path = next(iter(a.iter(f"{SVG}path")))
            x, top = map(float, path.get("d", "")[1:].split()[0].split(","))
            out[number] = (x, top + 4, True)
    return out


@pytest.fixture
def neural_site(tmp_path: Path) -> Iterator[tuple[str, int]]:
    url = f"sqlite:///{tmp_path / 'web.db'}"
    engine = create_db_engine(url)
    search_id = record_neural_search(engine)
    engine.dispose()
    yield url, search_id


def test_the_service_names_the_region_the_plot_needs(neural_site) -> None:
    url, search_id = neural_site
    engine = create_db_engine(url)
    try:
        assert service.search_charts(engine, search_id).neural_region == "IT"
        assert {t.trial for t in service.pareto(engine, search_id).items} == FRONT
    finally:
        engine.dispose()


def test_a_neural_search_plots_accuracy_against_the_fit(neural_site) -> None:
    url, search_id = neural_site
    with TestClient(create_app(ApiSettings(database_url=url))) as client:
        page = client.get(f"/searches/{search_id}")
    assert page.status_code == 200
    assert '<h2 id="plot-heading">Accuracy and neural fit (IT)</h2>' in page.text
    svg = chart(page.text)
    assert svg.findtext(f"{SVG}title") == "Validation accuracy against neural fit (IT)"
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "neural fit (IT)" in texts and "parameters (log scale)" not in texts
    assert "0.4" in texts and "0.8" in texts  # a linear axis with fractional ticks
    drawn = points(svg)
    assert set(drawn) == set(range(len(RECORDED)))
    assert {n for n, (_, _, front) in drawn.items() if front} == FRONT
    by_fit = sorted(drawn, key=lambda n: RECORDED[n][1])
    assert sorted(drawn, key=lambda n: drawn[n][0]) == by_fit  # x follows the fit
    by_acc = sorted(drawn, key=lambda n: -RECORDED[n][0])
    assert sorted(drawn, key=lambda n: drawn[n][1]) == by_acc  # higher accuracy is higher up
    # x is linear in the fit: equal fit steps are equal pixel steps
    (x03, _, _), (x04, _, _), (x08, _, _) = drawn[4], drawn[0], drawn[1]
    assert (x08 - x04) == pytest.approx(4 * (x04 - x03), abs=0.2)
    # the front's line joins the three front trials in fit order
    line = next(svg.iter(f"{SVG}polyline")).get("points", "").split()
    joined = [tuple(map(float, p.split(","))) for p in line]
    assert [x for x, _ in joined] == pytest.approx([drawn[n][0] for n in (0, 1, 2)], abs=0.1)


def test_a_val_acc_search_keeps_its_size_plot(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    engine = create_db_engine(url)
    search_id = populate(engine)
    engine.dispose()
    with TestClient(create_app(ApiSettings(database_url=url))) as client:
        page = client.get(f"/searches/{search_id}")
    assert '<h2 id="plot-heading">Accuracy and size</h2>' in page.text
    svg = chart(page.text)
    title = "Validation accuracy against parameters (Pareto front and this page's trials)"
    assert svg.findtext(f"{SVG}title") == title
    assert "parameters (log scale)" in [t.text for t in svg.iter(f"{SVG}text")]


CHROMIUM = Path("/usr/bin/chromium")
NOTES_SHOTS = Path("/work/notes/screenshots")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")
def test_the_neural_front_plot_in_a_real_browser(neural_site, tmp_path: Path) -> None:
    playwright_api: Any = pytest.importorskip("playwright.sync_api")
    from tests.web.test_browser import _serve

    url, search_id = neural_site
    with (
        _serve(create_app(ApiSettings(database_url=url))) as base,
        playwright_api.sync_playwright() as p,
    ):
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(f"{base}/searches/{search_id}")
        plot = page.locator("#chart-pareto")
        assert plot.locator("a.point.front").count() == len(FRONT)
        box = plot.bounding_box()
        assert box is not None and box["width"] > 300  # drawn, not collapsed
        section = page.locator("section.plot-section").first
        assert "neural fit (IT)" in section.inner_text()
        target = tmp_path / "search-neural-front.png"
        section.screenshot(path=str(target))
        if NOTES_SHOTS.parent.is_dir():
            NOTES_SHOTS.mkdir(exist_ok=True)
            shutil.copy(target, NOTES_SHOTS / "search-neural-front.png")
        browser.close()

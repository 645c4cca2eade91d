"""The search page's interactive plots in Chromium (issue 23): brushing the parallel coordinates
filters the leaderboard (the rows checked against the recorded values), hovering a point names
its trial and a click opens it, the live view shows a running trial's epoch advance without a
reload, and the page asks nothing of any other origin. Screenshots at desktop and phone width.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from api.app import create_app
from api.settings import ApiSettings
from search.records.db import Trial, TrialMetric, create_db_engine, session_scope
from tests.search.explore_helpers import populate_quickstart, sampled
from tests.search.test_convrnn_views import edge_count_sql
from tests.web.test_browser import CHROMIUM, DESKTOP, PHONE, _serve, _shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium"),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
COUNT = 80


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int, str]]:
    url = f"sqlite:///{tmp_path / 'explore.db'}"
    engine = create_db_engine(url)
    search_id = populate_quickstart(engine, COUNT)
    engine.dispose()
    with _serve(create_app(ApiSettings(database_url=url))) as base:
        yield base, search_id, url


@pytest.fixture
def page(served: tuple[str, int, str]) -> Iterator[Any]:
    """A desktop page on the search, with every request it makes recorded in ``page.asked``."""
    base, search_id, _ = served
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        opened = browser.new_page(viewport=DESKTOP)
        asked: list[str] = []
        errors: list[str] = []
        opened.on("request", lambda r: asked.append(r.url))
        opened.on("pageerror", lambda e: errors.append(str(e)))
        opened.goto(f"{base}/searches/{search_id}")
        opened.wait_for_selector("#plot-parcoords[data-drawn=yes]", timeout=30_000)
        # The live view fills in above the plots once Plotly is in: interact after it.
        opened.wait_for_selector("#explore[data-ready=yes]", timeout=30_000)
        opened.asked, opened.errors = asked, errors
        yield opened
        assert not errors, errors
        browser.close()


def _rows(page: Any) -> list[int]:
    return page.locator("#leaderboard tbody tr").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.trial))"
    )


def drag(page: Any, label: str, low: float, high: float) -> None:
    """Drag with the mouse along a parallel-coordinates axis, from ``low`` to ``high`` (shares
    of its height from the bottom)."""
    axis = page.locator(f'#plot-parcoords .pcoords-axis[data-axis="{label}"]')
    axis.evaluate("el => el.scrollIntoView({block: 'center'})")
    box = axis.bounding_box()
    assert box is not None
    x, bottom = box["x"] + box["width"] / 2, box["y"] + box["height"]
    page.mouse.move(x, bottom - box["height"] * low - 1)
    page.mouse.down()
    page.mouse.move(x, bottom - box["height"] * high, steps=6)
    page.mouse.up()


def test_brushing_an_axis_filters_the_leaderboard(
    page: Any, served: tuple[str, int, str], tmp_path: Path
) -> None:
    _, search_id, url = served
    before = _rows(page)
    assert len(before) == 50
    # rgc is the cell-kind axis's first choice, at its bottom: a brush over the lowest fifth.
    drag(page, "cells.main.kind", 0.0, 0.2)
    typed = "document.querySelector('#board input[data-params]').value"
    page.wait_for_function(f"() => {typed}.includes('cells.main.kind=')")
    page.wait_for_function("() => document.location.search.includes('param=')")
    written = page.locator("#board input[data-params]").input_value()
    assert written == "cells.main.kind=rgc", written
    page.wait_for_function(
        "n => document.querySelector('#board').dataset.total != n", arg=str(COUNT)
    )
    engine = create_db_engine(url)
    try:
        recorded = sampled(engine, search_id)
    finally:
        engine.dispose()
    want = {
        n for n, (s, p) in recorded.items() if s == "completed" and p["cells.main.kind"] == "rgc"
    }
    shown = set(_rows(page))
    assert shown == want or (len(shown) == 50 and shown < want), (shown, want)
    assert int(page.locator("#board").get_attribute("data-total")) == len(want)
    _shot(page, tmp_path, "explore-brushed-desktop.png")
    # The page reloaded keeps the filter (it is in the address).
    page.reload()
    assert page.locator("#board input[data-params]").input_value() == "cells.main.kind=rgc"
    assert set(_rows(page)) == shown


def test_hovering_a_point_names_its_trial_and_a_click_opens_it(page: Any) -> None:
    page.locator("#plot-slice").scroll_into_view_if_needed()
    page.wait_for_selector("#plot-slice[data-drawn=yes]")
    point = page.locator("#plot-slice .scatterlayer path.point").first
    box = point.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    label = page.wait_for_selector("#plot-slice .hoverlayer .hovertext")
    text = label.text_content() or ""
    found = re.match(r"trial (\d+)", text)
    assert found, text
    number = int(found.group(1))
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url(f"**/trials/{number}")
    assert f"trial {number}" in page.locator("h1").inner_text().lower()


def test_the_live_view_shows_a_running_trials_epoch_advance(
    page: Any, served: tuple[str, int, str]
) -> None:
    _, search_id, url = served
    item = page.locator("#live-trials li").first
    trial = int(item.get_attribute("data-trial"))
    epochs = int(item.get_attribute("data-epochs"))
    engine = create_db_engine(url)
    try:
        with session_scope(engine) as s:
            row = s.scalars(
                select(Trial).where(Trial.search_id == search_id, Trial.number == trial)
            ).one()
            row.epochs = epochs + 1
            s.add(TrialMetric(trial_id=row.id, epoch=epochs + 1, val_acc=0.99, extra={}))
    finally:
        engine.dispose()
    started = time.monotonic()
    selector = f"#live-trials li[data-trial='{trial}'][data-epochs='{epochs + 1}']"
    page.wait_for_selector(selector, timeout=15_000)
    assert "val_acc 0.9900" in page.locator(selector).inner_text()
    print(f"the live view showed epoch {epochs + 1} after {time.monotonic() - started:.1f}s")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload


def test_the_page_loads_nothing_from_elsewhere(
    page: Any, served: tuple[str, int, str], tmp_path: Path
) -> None:
    base = served[0]
    figures = ("slice", "contour", "curves", "timeline", "edf", "edges", "steps", "switches")
    for figure in (f"plot-{name}" for name in figures):
        page.locator(f"#{figure}").scroll_into_view_if_needed()
        page.wait_for_selector(f"#{figure}[data-drawn=yes]", timeout=15_000)
    _shot(page, tmp_path, "explore-desktop.png")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)
    _shot(page, tmp_path, "explore-phone.png")
    assert page.asked and all(url.startswith(base + "/") for url in page.asked), page.asked
    assert any(url.endswith("/static/vendor/plotly.min.js") for url in page.asked)


def test_the_edge_map_shows_the_counts_sql_finds(page: Any, served: tuple[str, int, str]) -> None:
    _, search_id, url = served
    page.locator("#plot-edges").scroll_into_view_if_needed()
    page.wait_for_selector("#plot-edges[data-drawn=yes] g.edge")
    drawn = page.locator("#plot-edges g.edge").evaluate_all(
        "gs => gs.map(g => [g.dataset.source, g.dataset.target, Number(g.dataset.allCount),"
        " Number(g.dataset.topCount)])"
    )
    engine = create_db_engine(url)
    try:
        for source, target, shown, top in drawn:
            assert shown == edge_count_sql(engine, search_id, source, target), (source, target)
            assert 0 <= top <= shown
    finally:
        engine.dispose()
    row = page.locator("#edge-table tbody tr").first
    assert row.get_attribute("data-edge") == "conv3->conv2"
    assert f"({drawn[0][2]})" in row.inner_text()


def test_hovering_a_parallel_coordinates_line_names_its_trial_and_a_click_opens_it(
    page: Any,
) -> None:
    axes = page.locator("#plot-parcoords .pcoords-axis")
    axes.first.evaluate("el => el.scrollIntoView({block: 'center'})")
    first, second = axes.nth(0).bounding_box(), axes.nth(1).bounding_box()
    assert first is not None and second is not None
    x = (first["x"] + second["x"]) / 2 + first["width"] / 2
    hovered = ""
    for y in range(int(first["y"]), int(first["y"] + first["height"]), 3):
        page.mouse.move(x, y)
        hovered = page.get_attribute("#plot-parcoords", "data-hovered") or ""
        if hovered:
            break
    assert hovered, "no line under the pointer between the first two axes"
    tip = page.locator("#plot-parcoords .pcoords-tip")
    assert tip.is_visible() and tip.inner_text().startswith(f"trial {hovered} ")
    page.mouse.click(x, y)
    page.wait_for_url(f"**/trials/{hovered}")

"""The trial page's neural fit heat map in a real browser (Debian's Chromium, Playwright): one
map per region, a cell per layer and time bin, a value on hover, the legend; a screenshot for a
person to look at (the test's tmp_path, /tmp/convnas-neural-heatmap.png and, when the notes
folder exists, /work/notes/screenshots)."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from api.app import create_app
from api.settings import ApiSettings
from search.records.db import Trial, create_db_engine, session_scope
from tests.search.service_helpers import populate
from tests.web.test_browser import CHROMIUM, NOTES_SHOTS, _serve
from tests.web.web_helpers import add_trial, feedback_arch

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"
    ),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
SHOT = Path("/tmp/convnas-neural-heatmap.png")
BINS = 8


def fit_table(layers: list[str]) -> dict[str, Any]:
    """A recorded table shaped like workers.neural.score's: V4 peaks early in the middle
    layers, IT later in the last ones; V4's first bin has no usable ceiling."""
    rows, n = [], len(layers)
    for li, layer in enumerate(layers):
        for b in range(BINS):
            for region, peak_layer, peak_bin in (("V4", n // 2 - 1, 3), ("IT", n - 1, 5)):
                value = math.exp(-((li - peak_layer) ** 2) / 3 - (b - peak_bin) ** 2 / 6)
                null = region == "V4" and b == 0
                rows.append(
                    {"layer": layer, "region": region, "bin": b, "bin_ms": 60.0 + 10 * b,
                     "steps": [b], "raw": round(0.6 * value, 4),
                     "normalized": None if null else round(0.92 * value, 4)}
                )  # fmt: skip
    ceiling = [
        {"region": r, "bin": b, "value": 0.04 if (r == "V4" and b == 0) else 0.65}
        for r in ("V4", "IT")
        for b in range(BINS)
    ]
    best = {"region": "IT", "layer": layers[-1], "bin": 5, "bin_ms": 110.0,
            "normalized": 0.92, "raw": 0.6}  # fmt: skip
    return {"format": "convnas.neural/1", "region": "IT", "objective": 0.92, "best": best,
            "rows": rows, "ceiling": ceiling, "seconds": 2.4}  # fmt: skip


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int, list[str]]]:
    url = f"sqlite:///{tmp_path / 'web.db'}"
    engine = create_db_engine(url)
    search_id = populate(engine, name="neural_demo")
    arch = feedback_arch()
    add_trial(engine, search_id, 3, arch)
    layers = [layer.name for layer in arch.layers]
    with session_scope(engine) as s:
        s.execute(
            update(Trial)
            .where(Trial.search_id == search_id, Trial.number == 3)
            .values(neural=fit_table(layers), neural_fit=0.92)
        )
    engine.dispose()
    with _serve(create_app(ApiSettings(database_url=url))) as base:
        yield base, search_id, layers


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        yield launched
        launched.close()


def test_the_trial_page_shows_the_fit_heat_map(served, browser, tmp_path: Path) -> None:
    base, search_id, layers = served
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(f"{base}/searches/{search_id}/trials/3")
    maps = page.locator("#neural svg.heatmap")
    assert maps.count() == 2
    assert maps.evaluate_all("m => m.map(s => s.dataset.region)") == ["V4", "IT"]
    it = maps.nth(1)
    assert it.locator("g.cell").count() == len(layers) * BINS
    best = it.locator("g.cell.best")
    assert best.count() == 1 and best.get_attribute("data-layer") == layers[-1]
    assert "normalised fit 0.920" in (best.locator("title").text_content() or "")
    box = it.bounding_box()
    assert box is not None and box["width"] > 300  # drawn, not collapsed
    assert page.locator("#neural .neural-best").inner_text().startswith("Best: 0.920")
    assert "Neural fit" in page.locator("dl.facts").inner_text()
    page.locator("#neural").scroll_into_view_if_needed()
    target = tmp_path / "trial-neural.png"
    page.locator("#neural").screenshot(path=str(target))
    shutil.copy(target, SHOT)
    if NOTES_SHOTS.parent.is_dir():
        NOTES_SHOTS.mkdir(exist_ok=True)
        shutil.copy(target, NOTES_SHOTS / "trial-neural.png")
    page.close()

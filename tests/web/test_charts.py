"""The search page's progress charts: best so far and accuracy per cell kind (inline SVG),
parameter importance (fetched by the page's script), at small and 100k-trial scale."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine

from api.app import create_app
from api.settings import ApiSettings
from api.web.charts import Spread, range_chart, step_chart
from search import service
from search.records.db import Trial, create_db_engine, session_scope
from tests.api.api_helpers import make_client
from tests.api.test_api_charts import add_trials, seed_study
from tests.search.service_helpers import populate
from tests.timing import fastest
from tests.web.web_helpers import bulk_trials

CHROMIUM = Path("/usr/bin/chromium")
NOTES_SHOTS = Path("/work/notes/screenshots")


def test_step_chart_holds_each_best_until_the_next() -> None:
    svg = str(step_chart([(0, 0.5), (3, 0.7), (9, 0.9)], 20, title="t", x_label="x",
                         y_label="y", chart_id="c"))  # fmt: skip
    points = re.search(r'<polyline points="([^"]+)"', svg)
    assert points is not None
    corners = [tuple(map(float, p.split(","))) for p in points.group(1).split()]
    # start, then a horizontal and a vertical segment per improvement, then on to trial 20
    assert len(corners) == 1 + 2 * 2 + 1
    ys = [y for _, y in corners]
    assert ys == sorted(ys, reverse=True)  # SVG y grows downwards: the line never falls
    assert svg.count('class="step"') == 3


def test_range_chart_draws_one_box_per_kind_with_its_count() -> None:
    rows = [
        Spread("rgc", 40, 0.1, 0.3, 0.5, 0.7, 0.9),
        Spread("<lstm>", 2, 0.2, 0.2, 0.3, 0.4, 0.4),
    ]
    svg = str(range_chart(rows, title="t", x_label="x", chart_id="c"))
    assert svg.count('class="spread"') == 2 and "n=40" in svg and "n=2" in svg
    assert "&lt;lstm&gt;" in svg and "<lstm>" not in svg  # labels are escaped


def test_search_page_shows_best_so_far_and_cell_kind_charts(db_url: str, engine: Engine) -> None:
    sid = populate(engine)
    add_trials(engine, sid, 300)
    charts = service.search_charts(engine, sid)
    with make_client(db_url) as client:
        page = client.get(f"/searches/{sid}").text
    assert 'id="chart-best"' in page and 'id="chart-cells"' in page
    assert page.count('class="step"') == len(charts.best_so_far.points)
    assert page.count('class="spread"') == len(charts.by_cells)
    assert f'data-url="/api/v1/searches/{sid}/importance"' in page
    assert "importance.js" in page


def test_search_page_without_completed_trials_says_so(db_url: str, engine: Engine) -> None:
    sid = populate(engine)
    with session_scope(engine) as s:
        s.query(Trial).filter(Trial.search_id == sid).update({"status": "failed"})
    with make_client(db_url) as client:
        page = client.get(f"/searches/{sid}").text
    assert 'id="no-best"' in page and 'id="chart-cells"' not in page
    assert 'id="chart-best"' not in page


def test_charts_at_100k_trials_stay_fast(db_url: str, engine: Engine) -> None:
    sid = populate(engine)
    bulk_trials(engine, sid, 100_000)
    with make_client(db_url) as client:
        client.get(f"/api/v1/searches/{sid}/charts")  # warm up (migrations, first connect)
        client.get(f"/searches/{sid}")  # and the page (its templates compile once per process)
        got, took = fastest(lambda: client.get(f"/api/v1/searches/{sid}/charts"))
        page, page_took = fastest(lambda: client.get(f"/searches/{sid}"))
    assert got.status_code == 200 and got.json()["completed"] == 100_002
    assert len(got.json()["best_so_far"]["points"]) < 100  # improvements only
    assert page.status_code == 200 and 'id="chart-best"' in page.text
    print(f"charts endpoint {took:.3f}s, page {page_took:.3f}s at 100k trials")
    assert took < 0.8, f"charts took {took:.2f}s"
    assert page_took < 1.0, f"the page took {page_took:.2f}s"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")
def test_importance_chart_loads_in_the_browser(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    url = f"sqlite:///{tmp_path / 'charts.db'}"
    engine = create_db_engine(url)
    sid = populate(engine, name="charts_demo")
    add_trials(engine, sid, 200, seed=5)
    seed_study(engine, sid, 60)
    engine.dispose()
    config = uvicorn.Config(
        create_app(ApiSettings(database_url=url)), host="127.0.0.1", port=_free_port(),
        log_level="warning",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
            )
            for label, size in (("desktop", (1366, 900)), ("phone", (390, 844))):
                page = browser.new_page(viewport={"width": size[0], "height": size[1]})
                page.goto(f"http://127.0.0.1:{config.port}/searches/{sid}")
                page.wait_for_selector("#chart-importance", timeout=20_000)
                bars = page.locator("#chart-importance g.bar")
                assert bars.count() == 3
                assert page.locator("#chart-best .step").count() >= 1
                assert page.locator("#chart-cells .spread").count() == 5
                target = tmp_path / f"charts-{label}.png"
                page.locator("section.progress-charts").screenshot(path=str(target))
                if NOTES_SHOTS.parent.is_dir():
                    NOTES_SHOTS.mkdir(exist_ok=True)
                    shutil.copy(target, NOTES_SHOTS / target.name)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)

"""The pages in a real browser: Debian's Chromium driven headless by Playwright.

Skipped when /usr/bin/chromium (``apt-get install chromium``) or the playwright package is
absent. Screenshots (desktop and phone width) go under the test's tmp_path and, when the notes
folder exists, to /work/notes/screenshots for a person to look at.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from api.app import create_app
from api.settings import ApiSettings
from search.records.db import create_db_engine
from tests.search.service_helpers import populate
from tests.web.web_helpers import add_trial, bulk_trials, feedback_arch

CHROMIUM = Path("/usr/bin/chromium")
NOTES_SHOTS = Path("/work/notes/screenshots")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"
    ),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """uvicorn in a thread on a free port, on a SQLite database with one populated search."""
    url = f"sqlite:///{tmp_path / 'web.db'}"
    engine = create_db_engine(url)
    search_id = populate(engine, name="browser_demo")
    add_trial(engine, search_id, 3, feedback_arch())
    bulk_trials(engine, search_id, 60)
    engine.dispose()
    with _serve(create_app(ApiSettings(database_url=url))) as base:
        yield base, search_id


@contextmanager
def _serve(app: object) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free port, until the block ends."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        yield launched
        launched.close()


def _shot(page: object, tmp_path: Path, name: str) -> None:
    target = tmp_path / "test-artifacts" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)  # type: ignore[attr-defined]
    if NOTES_SHOTS.parent.is_dir():
        NOTES_SHOTS.mkdir(exist_ok=True)
        shutil.copy(target, NOTES_SHOTS / name)


def _trials(page: object) -> list[int]:
    cells = page.locator("#leaderboard tbody tr")  # type: ignore[attr-defined]
    return [int(n) for n in cells.evaluate_all("rows => rows.map(r => r.dataset.trial)")]


def test_browse_sort_and_open_a_trial(served, browser, tmp_path: Path) -> None:
    base, search_id = served
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page = browser.new_page(viewport=size)  # type: ignore[attr-defined]
        page.goto(f"{base}/")
        assert page.locator("#searches tbody tr").count() == 1
        assert "browser_demo" in page.locator("#searches").inner_text()
        _shot(page, tmp_path, f"searches-{label}.png")

        page.click("text=browser_demo")
        page.wait_for_url(f"**/searches/{search_id}")
        assert len(_trials(page)) == 50
        _shot(page, tmp_path, f"search-{label}.png")

        # sort by parameters (ascending), then the same header again (descending)
        page.click('th[data-field="params"] a')
        page.wait_for_url("**sort=%2Bparams**")
        params = page.locator("#leaderboard tbody td[data-value]:nth-child(6)").evaluate_all(
            "cells => cells.map(c => Number(c.dataset.value))"
        )
        assert params == sorted(params) and len(params) == 50
        page.click('th[data-field="params"] a')
        page.wait_for_url("**sort=-params**")
        params = page.locator("#leaderboard tbody td:nth-child(6)").evaluate_all(
            "cells => cells.map(c => Number(c.dataset.value))"
        )
        assert params == sorted(params, reverse=True)

        page.goto(f"{base}/searches/{search_id}/trials/3")
        arch = feedback_arch()
        nodes = page.locator("#diagram g.node").count()
        assert nodes == len(arch.layers) + 2  # with the image and the readout
        assert page.locator("#diagram g.edge.feedback").count() == len(arch.feedback)
        assert page.locator("#chart-steps g.series").count() == 3  # one line per epoch
        _shot(page, tmp_path, f"trial-{label}.png")
        page.close()


def test_keyboard_reaches_the_sort_links(served, browser) -> None:
    base, search_id = served
    page = browser.new_page(viewport=DESKTOP)  # type: ignore[attr-defined]
    page.goto(f"{base}/searches/{search_id}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.focus('th[data-field="flops"] a')
    page.keyboard.press("Enter")
    page.wait_for_url("**sort=%2Bflops**")
    assert page.locator('th[data-field="flops"]').get_attribute("aria-sort") == "ascending"


def test_cancel_button_asks_for_the_token_once_and_calls_the_api(tmp_path: Path, browser) -> None:
    url = f"sqlite:///{tmp_path / 'token.db'}"
    engine = create_db_engine(url)
    search_id = populate(engine, name="guarded")
    engine.dispose()
    app = create_app(ApiSettings(database_url=url, api_token="s3cret"))
    with _serve(app) as base:
        page = browser.new_page(viewport=DESKTOP)  # type: ignore[attr-defined]
        prompts: list[str] = []

        def answer(dialog: object) -> None:
            prompts.append(dialog.type)  # type: ignore[attr-defined]
            dialog.accept("s3cret")  # type: ignore[attr-defined]

        page.on("dialog", answer)
        page.goto(f"{base}/")
        page.click(f'button[data-action="cancel"][data-id="{search_id}"]')
        page.wait_for_selector("#notice:not([hidden])")
        page.wait_for_selector("#searches .status-cancelled", timeout=10_000)
        assert prompts == ["prompt"]
        token = page.evaluate("sessionStorage.getItem('convnas-token')")
        assert token == "s3cret"


def test_a_running_search_page_refreshes_when_a_trial_finishes(tmp_path: Path, browser) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    engine = create_db_engine(url)
    search_id = populate(engine, name="live")
    with _serve(create_app(ApiSettings(database_url=url))) as base:
        page = browser.new_page(viewport=DESKTOP)  # type: ignore[attr-defined]
        page.goto(f"{base}/searches/{search_id}")
        assert _trials(page) == [1, 0]
        add_trial(engine, search_id, 3, feedback_arch())  # a trial finishes meanwhile
        page.wait_for_selector('#leaderboard tr[data-trial="3"]', timeout=15_000)
        assert _trials(page) == [1, 3, 0]
    engine.dispose()


def test_launch_form_checks_as_you_type_and_queues_the_search(served, browser, tmp_path) -> None:
    base, _ = served
    page = browser.new_page(viewport=DESKTOP)  # type: ignore[attr-defined]
    page.goto(f"{base}/searches/new")
    page.fill("#spec", "name: bad\nclasses: zero\n")
    page.wait_for_selector("#problems li")
    problems = page.locator("#problems").inner_text()
    assert "line 2" in problems and "classes" in problems
    page.click("#use-example")
    page.wait_for_selector(".verdict.good")
    said = page.locator("#verdict").inner_text()
    assert said.startswith("OK") and "'tiny'" in said and "4 trials" in said
    _shot(page, tmp_path, "launch-desktop.png")
    page.click("#launch-button")
    page.wait_for_url(re.compile(r".*/searches/\d+$"))
    assert page.locator("#live-status").inner_text() == "queued"
    assert page.locator("h1").inner_text().startswith("tiny")


def test_tick_two_trials_and_compare_them(served, browser, tmp_path: Path) -> None:
    base, search_id = served
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page = browser.new_page(viewport=size)  # type: ignore[attr-defined]
        page.goto(f"{base}/searches/{search_id}")
        page.check(f'input[value="{search_id}/1"]')
        page.check(f'input[value="{search_id}/3"]')
        page.click("#compare-form button")
        page.wait_for_url("**/compare?**")
        assert page.locator("#compare thead th").count() == 3
        assert page.locator("#compare tr.diff").count() >= 3
        assert page.locator(".compare-col .diagram").count() == 2
        _shot(page, tmp_path, f"compare-{label}.png")
        page.close()

"""A note round trip in a real browser (issue 23): typed on a trial's page of a server with a
token, saved through the JSON API, shown rendered after the reload and after a fresh visit;
HTML typed into it stays text. Debian's Chromium driven headless by Playwright; skipped when
either is absent. Screenshots under the test's tmp_path (and /work/notes/screenshots)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.settings import ApiSettings
from search import service
from search.records.db import create_db_engine
from tests.search.service_helpers import populate
from tests.web.test_browser import CHROMIUM, DESKTOP, PHONE, _serve, _shot
from tests.web.web_helpers import add_trial, feedback_arch

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"
    ),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
TOKEN = "s3cret"
LIVE_POLL_MS = 3000  # app.js polls a running search's summary this often
TYPED = "# Why it wins\n\nThe **feedback** edge.\n\n<script>window.pwned = 1</script>"


@pytest.fixture
def browser() -> Any:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        yield launched
        launched.close()


def test_a_note_typed_saved_and_shown_after_reload(tmp_path: Path, browser: Any) -> None:
    url = f"sqlite:///{tmp_path / 'notes.db'}"
    engine = create_db_engine(url)
    sid = populate(engine, name="noted")
    app = create_app(ApiSettings(database_url=url, api_token=TOKEN))
    with _serve(app) as base:
        page = browser.new_page(viewport=DESKTOP)
        page.on("dialog", lambda dialog: dialog.accept(TOKEN))  # the token, asked once
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        trial_url = f"{base}/searches/{sid}/trials/1"
        page.goto(trial_url)
        assert "No note yet" in page.locator("#note").inner_text()
        page.click("#note summary")
        page.fill("#note-text", TYPED)
        with page.expect_navigation():  # saved, then the page reloads to render it
            page.click("#note-save")
        body = page.locator("#note-body")
        assert body.locator("h3").inner_text() == "Why it wins"
        assert body.locator("strong").inner_text() == "feedback"
        assert "<script>window.pwned = 1</script>" in body.inner_text()  # shown as text
        assert page.evaluate("window.pwned") is None  # and never run
        _shot(page, tmp_path, "note-trial-desktop.png")
        assert service.trial(engine, sid, 1).note == TYPED

        fresh = browser.new_page(viewport=PHONE)  # a new visit: the server renders it
        fresh.goto(trial_url)
        assert fresh.locator("#note-body h3").inner_text() == "Why it wins"
        _shot(fresh, tmp_path, "note-trial-phone.png")
        assert all(seen.startswith(base) for seen in requests), requests  # nothing from outside
    engine.dispose()


def test_a_refused_note_says_why_and_keeps_the_text(tmp_path: Path, browser: Any) -> None:
    url = f"sqlite:///{tmp_path / 'refused.db'}"
    engine = create_db_engine(url)
    sid = populate(engine, name="refused")
    engine.dispose()
    with _serve(create_app(ApiSettings(database_url=url))) as base:
        page = browser.new_page(viewport=DESKTOP)
        page.goto(f"{base}/searches/{sid}")
        page.click("#note summary")
        too_long = "x" * (service.MAX_NOTE_CHARS + 1)
        page.fill("#note-text", too_long)
        page.click("#note-save")
        status = page.locator("#note-status.bad")
        status.wait_for()
        assert "too long: 20,001 characters" in status.inner_text()
        assert page.input_value("#note-text") == too_long
        _shot(page, tmp_path, "note-refused-desktop.png")


def test_the_live_refresh_waits_for_an_unsaved_note(tmp_path: Path, browser: Any) -> None:
    """A running search's page reloads when a trial finishes, but not over words being typed."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    engine = create_db_engine(url)
    sid = populate(engine, name="live")
    with _serve(create_app(ApiSettings(database_url=url))) as base:
        page = browser.new_page(viewport=DESKTOP)
        page.goto(f"{base}/searches/{sid}")
        page.click("#note summary")
        page.fill("#note-text", "half a thought")
        page.evaluate("window.notReloaded = true")
        add_trial(engine, sid, 3, feedback_arch())  # a trial finishes meanwhile
        page.wait_for_timeout(LIVE_POLL_MS * 2)
        assert page.evaluate("window.notReloaded") is True
        assert page.input_value("#note-text") == "half a thought"
    engine.dispose()

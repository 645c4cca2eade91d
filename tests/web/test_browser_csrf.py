"""Another site's page, opened in Chromium by the user of a tokenless `convnas serve` (the local
default), cannot change anything on it (issue 18): not by a form POST, not by a no-cors fetch
of a typeless Blob, not by a name of its own that resolves to 127.0.0.1 (DNS rebinding). The
server's own pages keep working under their Content-Security-Policy, and /docs and /redoc
render from the installed assets with no request leaving the machine.

The hostile page is tests/hostile/http/csrf_page.html, served from another loopback port.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from search.records.db import Search, create_db_engine, session_scope
from tests.api.test_serve import serving
from tests.search.service_helpers import populate

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = Path(__file__).resolve().parents[1] / "hostile" / "http" / "csrf_page.html"
REBOUND = "evil.example"  # a name of the attacker's, resolved to 127.0.0.1 by the browser
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"
    ),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")


@contextmanager
def attacker_site(folder: Path, page: str) -> Iterator[str]:
    """``page`` served as /index.html by http.server from a loopback port of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(page, encoding="utf-8")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int, Any]]:
    """A real `convnas serve` (no token, no runner, the default hosts) with a queued search:
    its URL, the search's id, and an engine on its database."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'serve.db'}")
    search_id = populate(engine, name="victim")
    # The tests' own host list is dropped: the server answers to what it answers by default.
    with serving(tmp_path, "--no-runner", env={"CONVNAS_ALLOWED_HOSTS": ""}) as (url, _, _):
        yield url, search_id, engine
    engine.dispose()


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1"],
            headless=True,
        )
        yield launched
        launched.close()


def _searches(engine: Any) -> list[tuple[int, str]]:
    with session_scope(engine) as s:
        return [tuple(row) for row in s.execute(select(Search.id, Search.status))]


def test_another_sites_page_cannot_cancel_or_submit(served, browser, tmp_path: Path) -> None:
    url, search_id, engine = served
    before = _searches(engine)
    hostile = HOSTILE.read_text(encoding="utf-8")
    hostile = hostile.replace("TARGET", url).replace("SEARCH", str(search_id))
    page = browser.new_page()
    with attacker_site(tmp_path / "site", hostile) as address:
        page.goto(address)
        page.wait_for_url(f"{url}/api/v1/searches/{search_id}/cancel", timeout=15_000)
    answer = page.locator("body").inner_text()
    assert '"status":403' in answer.replace(" ", ""), answer  # the form's POST
    assert "another site" in answer
    assert _searches(engine) == before  # not cancelled, nothing queued
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Search)) == 1


def test_a_rebound_name_is_refused(served, browser) -> None:
    url, search_id, _ = served
    port = url.rsplit(":", 1)[1]
    page = browser.new_page()
    answer = page.goto(f"http://{REBOUND}:{port}/api/v1/searches/{search_id}")
    assert answer is not None and answer.status == 400
    assert REBOUND in page.locator("body").inner_text()
    direct = httpx.get(f"{url}/api/v1/searches/{search_id}", headers={"Host": REBOUND})
    assert direct.status_code == 400 and direct.json()["status"] == 400


def test_own_pages_and_docs_run_under_the_csp(served, browser, tmp_path: Path) -> None:
    url, search_id, engine = served
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    refused: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.on(
        "request",
        lambda r: None if r.url.startswith((url, "data:", "blob:")) else outside.append(r.url),
    )

    page.goto(f"{url}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)  # Swagger UI ran
    assert page.locator(".opblock").count() >= 10
    _shot(page, tmp_path, "docs.png")
    page.goto(f"{url}/redoc")
    page.wait_for_selector("[data-section-id]", timeout=20_000)  # ReDoc ran
    _shot(page, tmp_path, "redoc.png")

    page.goto(f"{url}/searches/{search_id}")  # the charts' inline SVG styles, importance.js
    page.wait_for_selector("#leaderboard tbody tr")
    _shot(page, tmp_path, "search.png")
    page.goto(f"{url}/searches/{search_id}/trials/1")
    page.wait_for_selector("#diagram g.node")
    _shot(page, tmp_path, "trial.png")

    page.goto(f"{url}/")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click(f'button[data-action="cancel"][data-id="{search_id}"]')  # the page's own script
    page.wait_for_selector("#notice:not([hidden])")
    page.wait_for_selector("#searches .status-cancelled", timeout=10_000)
    _shot(page, tmp_path, "searches-after-cancel.png")
    assert dict(_searches(engine))[search_id] == "cancelled"
    # The CSP refused nothing of the server's own (no inline script or style it needs); what
    # it did refuse is ReDoc's "powered by" logo from its CDN, which ReDoc then hides.
    assert [m for m in refused if "https://cdn.redoc.ly/" not in m] == [], refused
    assert not [u for u in outside if not u.startswith("https://cdn.redoc.ly/")], outside


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    target = tmp_path / "test-artifacts" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=False)
    notes = Path("/work/notes/screenshots")
    if notes.parent.is_dir():
        notes.mkdir(exist_ok=True)
        (notes / f"csrf-{name}").write_bytes(target.read_bytes())

"""The search page's interactive plots at scale (issue 23): 10,000 trials.

The search is the quickstart's space: ``--seed-trials`` (200) trials drawn by the seeded random
sampler and recorded with epochs (some failed, pruned or running), then copied by SQL until it
holds ``--trials`` (10,000), accuracies nudged so that copies do not tie
(``tests/search/explore_helpers.py``). The real app is served by uvicorn on a free port and asked
over HTTP, one request at a time:

  * every plot endpoint (``/plots/trials``, ``/curves``, ``/contour``, ``/convrnn``) and the
    leaderboard fragment that brushing fetches, with two parameter filters: p50 and p95 of
    ``--requests`` after two warm-up requests, and the response size;
  * in Chromium (when ``/usr/bin/chromium`` and playwright are there): the time from navigation
    until the parallel coordinates are drawn and brushable (the page is interactive then: the
    leaderboard and its links are up long before), best of ``--page-runs``; and the time from
    a brush (set as Plotly sets it) until the leaderboard shows the filtered rows.

Targets: the page interactive within 1.5 s, every plot endpoint's p95 under 300 ms, a brush
re-filtering within 200 ms.

    .venv/bin/python bench/explore_scale.py                # SQLite, 10,000 trials
    .venv/bin/python bench/explore_scale.py --db postgresql+psycopg://postgres@127.0.0.1/test
    .venv/bin/python bench/explore_scale.py --smoke --json # 400 trials, a few requests

``--json`` prints one JSON document on stdout (progress goes to stderr). ``--smoke`` only
changes the defaults (400 trials, 4 requests, 1 page run): its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app
from api.settings import ApiSettings
from search.records.db import create_db_engine
from tests.search.explore_helpers import grow_by_copies, populate_quickstart

CHROMIUM = Path("/usr/bin/chromium")
FILTERS = ("cells.main.kind=rgc", "training.lr:0.03..0.06")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@contextmanager
def served(url: str) -> Iterator[str]:
    os.environ.setdefault("CONVNAS_ALLOWED_HOSTS", "127.0.0.1,localhost")
    config = uvicorn.Config(
        create_app(ApiSettings(database_url=url)), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def timed(client: httpx.Client, path: str, requests: int) -> dict[str, Any]:
    times = []
    for i in range(requests + 2):
        started = time.perf_counter()
        response = client.get(path)
        if i >= 2:  # two warm-up requests
            times.append(time.perf_counter() - started)
        response.raise_for_status()
    times.sort()
    return {
        "path": path,
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))] * 1000, 1),
        "kB": round(len(response.content) / 1024, 1),
    }


def endpoints(base: str, search_id: int, requests: int) -> list[dict[str, Any]]:
    api = f"/api/v1/searches/{search_id}"
    board = f"/searches/{search_id}/board?" + "&".join(
        f"param={httpx.QueryParams({'p': f})['p']}" for f in FILTERS
    )
    paths = [
        f"{api}/plots/trials",
        f"{api}/plots/curves",
        f"{api}/plots/curves?status=running",
        f"{api}/plots/contour?x=training.lr&y=cells.main.kind",
        f"{api}/plots/convrnn",
        board,
    ]
    with httpx.Client(base_url=base, timeout=60) as client:
        return [timed(client, path, requests) for path in paths]


def browser(base: str, search_id: int, runs: int) -> dict[str, Any] | None:
    if not CHROMIUM.exists():
        log("no /usr/bin/chromium: the page timings are skipped")
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        loads, brushes = [], []
        for _ in range(runs):
            page = launched.new_page(viewport={"width": 1366, "height": 900})
            started = time.perf_counter()
            page.goto(f"{base}/searches/{search_id}")
            page.wait_for_selector("#plot-parcoords[data-drawn=yes]", timeout=60_000)
            loads.append(time.perf_counter() - started)
            # The live view fills in above the plots once Plotly is in: brush after it.
            page.wait_for_selector("#explore[data-ready=yes]", timeout=60_000)
            brushes.append(_brush(page))
            page.close()
        launched.close()
    return {
        "interactive_s": round(min(loads), 3),
        "interactive_all_s": [round(t, 3) for t in loads],
        "brush_ms": round(min(brushes) * 1000, 1),
    }


def _brush(page: Any) -> float:
    """Drag along the cell-kind axis over rgc with the mouse; the time from the button's
    release until the filtered leaderboard is in."""
    total = page.get_attribute("#board", "data-total")
    axis = page.locator('#plot-parcoords .pcoords-axis[data-axis="cells.main.kind"]')
    axis.evaluate("el => el.scrollIntoView({block: 'center'})")
    box = axis.bounding_box()
    x, bottom = box["x"] + box["width"] / 2, box["y"] + box["height"]
    page.mouse.move(x, bottom - 1)
    page.mouse.down()
    page.mouse.move(x, bottom - box["height"] * 0.2, steps=6)
    started = time.perf_counter()
    page.mouse.up()
    page.wait_for_function(f"() => document.querySelector('#board').dataset.total !== '{total}'")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--trials", type=int)
    parser.add_argument("--seed-trials", type=int, default=200)
    parser.add_argument("--requests", type=int)
    parser.add_argument("--page-runs", type=int)
    parser.add_argument("--smoke", action="store_true", help="a quick run: figures mean nothing")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args()
    trials = args.trials or (400 if args.smoke else 10_000)
    requests = args.requests or (4 if args.smoke else 20)
    runs = args.page_runs or (1 if args.smoke else 3)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'explore.db'}"
        engine = create_db_engine(url)
        started = time.monotonic()
        search_id = populate_quickstart(engine, min(args.seed_trials, trials), name="explore10k")
        grow_by_copies(engine, search_id, trials)
        engine.dispose()
        log(f"seeded {trials} trials in {time.monotonic() - started:.1f}s")
        with served(url) as base:
            measured = endpoints(base, search_id, requests)
            for m in measured:
                times = f"p50 {m['p50_ms']:7.1f} ms  p95 {m['p95_ms']:7.1f} ms"
                log(f"{m['path'][:80]:80s} {times}  {m['kB']} kB")
            page = browser(base, search_id, runs)
            if page:
                brush = f"a brush re-filters in {page['brush_ms']} ms"
                log(f"page interactive in {page['interactive_s']} s; {brush}")
    result = {"trials": trials, "database": url.split(":")[0], "endpoints": measured, "page": page}
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()

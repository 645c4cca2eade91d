"""The interactive plots over HTTP (issue 23), both backends: the /plots routes, the leaderboard's
``param`` filters in the API, the page's leaderboard fragment, Plotly's file served from the
installed package, and the policy that only the search page may run Plotly's WebGL code."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from api.security import CSP
from search.records.db import create_db_engine
from tests.search.explore_helpers import populate_quickstart, sampled

API = "/api/v1"


def _search(client: TestClient, db_url: str, count: int = 30) -> tuple[int, dict]:
    engine = create_db_engine(db_url)
    try:
        search_id = populate_quickstart(engine, count)
        return search_id, sampled(engine, search_id)
    finally:
        engine.dispose()


def test_the_plot_routes_answer_with_the_recorded_trials(client: TestClient, db_url: str) -> None:
    search_id, recorded = _search(client, db_url)
    trials = client.get(f"{API}/searches/{search_id}/plots/trials")
    assert trials.status_code == 200, trials.text
    body = trials.json()
    assert body["trial"] == sorted(recorded) and body["total"] == len(recorded)
    assert [a["label"] for a in body["params"]][:2] == [
        "layers.conv3.present",
        "layers.conv2.channels",
    ]
    running = client.get(f"{API}/searches/{search_id}/plots/curves", params={"status": "running"})
    assert running.status_code == 200
    want = {n for n, (s, _) in recorded.items() if s == "running"}
    assert {c["trial"] for c in running.json()["items"]} == want
    grid = client.get(
        f"{API}/searches/{search_id}/plots/contour",
        params={"x": "training.lr", "y": "cells.main.kind"},
    )
    assert grid.status_code == 200 and grid.json()["trials"] == sum(
        1 for s, _ in recorded.values() if s == "completed"
    )


def test_bad_plot_requests_are_problems_naming_the_field(client: TestClient, db_url: str) -> None:
    search_id, _ = _search(client, db_url, 5)
    bad = client.get(f"{API}/searches/{search_id}/plots/contour", params={"x": "nope", "y": "a"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem")
    assert "x" in bad.text and "nope" in bad.text
    curves = client.get(f"{API}/searches/{search_id}/plots/curves", params={"status": "failed"})
    assert curves.status_code == 422
    assert client.get(f"{API}/searches/999/plots/trials").status_code == 404


def test_the_leaderboard_filters_by_sampled_values(client: TestClient, db_url: str) -> None:
    search_id, recorded = _search(client, db_url)
    page = client.get(
        f"{API}/searches/{search_id}/trials",
        params={"param": ["cells.main.kind=rgc,lstm", "training.lr:0.03.."], "status": "all"},
    )
    assert page.status_code == 200, page.text
    want = {
        n
        for n, (_, p) in recorded.items()
        if p["cells.main.kind"] in ("rgc", "lstm") and p["training.lr"] >= 0.03
    }
    assert {t["trial"] for t in page.json()["items"]} == want and want
    bad = client.get(f"{API}/searches/{search_id}/trials", params={"param": "training.lr=1"})
    assert bad.status_code == 422
    problem = bad.json()
    assert problem["errors"][0]["path"] == "param" and "training.lr=1" in bad.text


def test_the_board_fragment_is_the_filtered_leaderboard(client: TestClient, db_url: str) -> None:
    search_id, recorded = _search(client, db_url)
    # The form writes its filters space-separated in one field.
    page = client.get(
        f"/searches/{search_id}/board",
        params={"param": "cells.main.kind=rgc layers.conv3.present=true", "status": "all"},
    )
    assert page.status_code == 200 and "<html" not in page.text
    shown = {int(n) for n in re.findall(r'<tr data-trial="(\d+)"', page.text)}
    want = {
        n
        for n, (_, p) in recorded.items()
        if p["cells.main.kind"] == "rgc" and p["layers.conv3.present"] is True
    }
    assert shown == want and want
    # Its sort and page links keep the filters.
    assert "param=cells.main.kind%3Drgc&amp;param=layers.conv3.present%3Dtrue" in page.text
    bad = client.get(f"/searches/{search_id}/board", params={"param": "nope=1"})
    assert bad.status_code == 422 and "param" in bad.text


def test_plotly_comes_from_the_installed_package(client: TestClient) -> None:
    import plotly

    served = client.get("/static/vendor/plotly.min.js")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/javascript")
    assert "max-age" in served.headers["cache-control"]
    from pathlib import Path

    bundled = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert served.content == bundled.read_bytes()


def test_no_page_may_evaluate_code(client: TestClient, db_url: str) -> None:
    """The plots draw without eval (the parallel coordinates are ours, on a 2D canvas; Plotly's
    SVG traces need none): every page keeps the one strict policy."""
    search_id, _ = _search(client, db_url, 3)
    assert "'unsafe-eval'" not in CSP
    for page in ("/", f"/searches/{search_id}", f"/searches/{search_id}/board"):
        assert client.get(page).headers["content-security-policy"] == CSP, page

"""The web pages, served by the real app on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from search import service
from search.records.db import Trial, session_scope
from search.records.leaderboard import TrialQuery
from tests.api.api_helpers import make_client
from tests.search.service_helpers import populate
from tests.timing import fastest
from tests.web.web_helpers import add_trial, bulk_trials, feedback_arch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def seeded(db_url: str, engine: Engine) -> Iterator[tuple[TestClient, int]]:
    """The app on a database holding populate's search (trials 0-2) and trial 3 (feedback)."""
    search_id = populate(engine)
    add_trial(engine, search_id, 3, feedback_arch())
    with make_client(db_url) as client:
        yield client, search_id


def rows(html: str, attr: str = "data-trial") -> list[int]:
    return [int(n) for n in re.findall(rf'<tr {attr}="(\d+)"', html)]


def test_searches_page_lists_each_search_with_progress_and_actions(seeded) -> None:
    client, search_id = seeded
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert rows(page.text, "data-id") == [search_id]
    search = service.get_search(client.app.state.engine.get(), search_id)
    assert f">{search.finished}/{search.requested}</span>" in page.text
    assert f'href="/searches/{search_id}">tiny</a>' in page.text
    assert "val_acc 0.9" in page.text
    assert f'data-action="cancel" data-id="{search_id}"' in page.text  # a queued search
    assert f'data-action="delete" data-id="{search_id}"' in page.text
    assert 'data-auth="open"' in page.text


def test_search_page_shows_the_leaderboard_best_first(seeded) -> None:
    client, search_id = seeded
    page = client.get(f"/searches/{search_id}")
    assert page.status_code == 200
    assert rows(page.text) == [1, 3, 0]  # completed only: 0.9, 0.7, 0.5
    assert 'aria-sort="descending"' in page.text  # val_acc, the objective
    assert f"/api/v1/searches/{search_id}/export?format=yaml" in page.text
    assert f"/api/v1/searches/{search_id}/trials?format=csv" in page.text
    assert 'data-live="yes"' in page.text  # queued: the page polls


def test_status_and_cell_kind_filters(seeded) -> None:
    client, search_id = seeded
    every = client.get(f"/searches/{search_id}?status=all")
    assert sorted(rows(every.text)) == [0, 1, 2, 3]
    failed = client.get(f"/searches/{search_id}?status=failed")
    assert rows(failed.text) == [2]
    rgc = client.get(f"/searches/{search_id}?cell_kind=rgc")
    assert rows(rgc.text) == [3]
    # the CSV export keeps the filters of the table
    assert "format=csv&amp;cell_kind=rgc" in rgc.text


def test_sort_links_follow_the_service_order(seeded) -> None:
    client, search_id = seeded
    page = client.get(f"/searches/{search_id}?status=all")
    link = re.search(r'<th scope="col" data-field="params"[^>]*>\s*<a href="([^"]+)"', page.text)
    assert link is not None
    href = unescape(link.group(1))
    assert "sort=%2Bparams" in href and "status=all" in href
    ascending = client.get(f"/searches/{search_id}{href}")
    expected = service.trials(
        client.app.state.engine.get(), search_id, TrialQuery(sort="+params", status="all")
    )
    assert rows(ascending.text) == [t.trial for t in expected.items]
    # the sorted column's link now reverses it
    again = re.search(r'data-field="params" aria-sort="ascending">\s*<a href="([^"]+)"',
                      ascending.text)  # fmt: skip
    assert again is not None and "sort=-params" in unescape(again.group(1))
    descending = client.get(f"/searches/{search_id}{unescape(again.group(1))}")
    reverse = service.trials(
        client.app.state.engine.get(), search_id, TrialQuery(sort="-params", status="all")
    )
    assert rows(descending.text) == [t.trial for t in reverse.items] != rows(ascending.text)


def test_pagination_links_walk_every_row(db_url: str, engine: Engine) -> None:
    search_id = populate(engine)
    bulk_trials(engine, search_id, 120)
    seen: list[int] = []
    with make_client(db_url) as client:
        url = f"/searches/{search_id}?sort=number"
        for _ in range(5):
            page = client.get(url)
            assert page.status_code == 200
            seen += rows(page.text)
            found = re.search(r'<a href="([^"]+)" rel="next">', page.text)
            if found is None:
                break
            url = f"/searches/{search_id}{unescape(found.group(1))}"
    assert seen == sorted(seen) and len(seen) == 122 == len(set(seen))
    assert "101\u2013122 of 122" in page.text


def test_trial_page_draws_the_arch_and_one_step_line_per_epoch(seeded) -> None:
    client, search_id = seeded
    arch = feedback_arch()
    page = client.get(f"/searches/{search_id}/trials/3")
    assert page.status_code == 200
    diagram = page.text.split('id="diagram"', 1)[1].split("</svg>", 1)[0]
    layer_nodes = re.findall(r'<g class="node (?!image|readout)[^"]*"', diagram)
    assert len(layer_nodes) == len(arch.layers)
    assert diagram.count('class="edge feedback"') == len(arch.feedback) > 0
    steps = page.text.split('id="chart-steps"', 1)[1].split("</svg>", 1)[0]
    assert re.findall(r'data-label="(epoch \d+)"', steps) == ["epoch 1", "epoch 2", "epoch 3"]
    assert 'id="chart-loss"' in page.text and 'id="chart-acc"' in page.text
    assert "<code>training.lr</code>" in page.text
    assert "export?format=yaml&amp;trial=3" in page.text
    assert "<script" not in diagram  # our own drawing, inlined as is


def test_failed_trial_page_shows_its_error(seeded) -> None:
    client, search_id = seeded
    page = client.get(f"/searches/{search_id}/trials/2")
    assert page.status_code == 200
    assert "RuntimeError: boom" in page.text
    assert "No epoch finished." in page.text


def test_a_retried_trial_page_lists_its_attempts(seeded, engine: Engine) -> None:
    client, search_id = seeded
    assert "Attempts" not in client.get(f"/searches/{search_id}/trials/0").text  # ran once
    attempts = [
        {"attempt": 1, "node": "10.0.0.2/bbbb2222", "started_at": "2026-12-07T10:00:00+00:00",
         "ended_at": "2026-12-07T10:01:00+00:00", "epochs": 2, "outcome": "retried",
         "error": "node died or worker killed: <gone>"},
        {"attempt": 2, "node": "10.0.0.1/aaaa1111", "started_at": "2026-12-07T10:01:05+00:00",
         "ended_at": "2026-12-07T10:02:00+00:00", "epochs": 3, "outcome": "completed",
         "error": None},
    ]  # fmt: skip
    with session_scope(engine) as s:
        s.execute(
            update(Trial)
            .where(Trial.search_id == search_id, Trial.number == 0)
            .values(attempts=attempts)
        )
    page = client.get(f"/searches/{search_id}/trials/0").text
    items = re.findall(r"<li>(.*?)</li>", page.split('class="attempts"')[1].split("</ol>")[0])
    assert [unescape(i) for i in items] == [
        "10.0.0.2/bbbb2222: retried after 2 epochs (node died or worker killed: <gone>)",
        "10.0.0.1/aaaa1111: completed after 3 epochs",
    ]
    assert "<gone>" not in page  # escaped like every value on the page


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/searches/999", 404, "no search"),
        ("/searches/99999999999", 404, "no search"),
        ("/searches/{id}/trials/77", 404, "trial"),
        ("/searches/{id}?sort=bogus", 422, "sort: unknown metric"),
        ("/searches/{id}?offset=-1", 422, "offset: must be between"),
        ("/?offset=-5", 422, "offset: must be between"),
        ("/searches/{id}?status=bogus", 422, "status"),
        ("/searches/{id}?cell_kind=bogus", 422, "cell_kind"),
    ],
)
def test_error_pages(seeded, path: str, status: int, text: str) -> None:
    client, search_id = seeded
    page = client.get(path.format(id=search_id))
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert text in page.text and "Back to the searches" in page.text


def test_token_servers_ask_for_it_and_private_reads_close_the_pages(
    db_url: str, engine: Engine
) -> None:
    populate(engine)
    with make_client(db_url, api_token="s3cret") as client:
        assert 'data-auth="token"' in client.get("/").text
    with make_client(db_url, api_token="s3cret", api_read="token") as client:
        page = client.get("/")
        assert page.status_code == 401 and "CONVNAS_API_READ=token" in page.text
        assert "s3cret" not in page.text


def test_assets_are_served_from_the_package(seeded) -> None:
    client, _ = seeded
    for name, kind in (("app.css", "text/css"), ("app.js", "javascript")):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
    page = client.get("/").text
    assert "http://" not in page.replace("http://www.w3.org", "")  # nothing from a CDN


def test_a_search_of_100k_trials_opens_in_under_a_second(db_url: str, engine: Engine) -> None:
    search_id = populate(engine)
    bulk_trials(engine, search_id, 100_000)
    with make_client(db_url) as client:
        client.get(f"/searches/{search_id}")  # the first request migrates and warms up
        page, took = fastest(
            lambda: client.get(f"/searches/{search_id}?sort=%2Bparams&offset=50000")
        )
    assert page.status_code == 200 and len(rows(page.text)) == 50
    assert "of 100002" in page.text
    assert took < 1.0, f"the page took {took:.2f}s"


def test_pages_never_import_torch_or_ray(seeded, db_url: str) -> None:
    _, search_id = seeded
    code = f"""
import sys
from fastapi.testclient import TestClient
from api.app import create_app
from api.settings import ApiSettings
client = TestClient(create_app(ApiSettings(database_url={db_url!r})))
for path in ("/", "/searches/{search_id}", "/searches/{search_id}/trials/3"):
    assert client.get(path).status_code == 200, path
heavy = ("torch", "ray", "workers.trainable", "search.run.driver")
loaded = sorted(m for m in heavy if m in sys.modules)
assert not loaded, loaded
print("clean")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "clean" in done.stdout


def test_launch_page_offers_the_tiny_example(seeded) -> None:
    client, _ = seeded
    page = client.get("/searches/new")
    assert page.status_code == 200
    assert 'id="spec"' in page.text and "name: tiny" in page.text
    assert "/static/launch.js" in page.text
    assert client.get("/static/launch.js").status_code == 200


def test_search_page_plots_the_front_and_the_page_trials_as_links(seeded, engine) -> None:
    client, search_id = seeded
    with session_scope(engine) as s:
        s.execute(
            update(Trial).where(Trial.search_id == search_id, Trial.number == 1).values(pareto=True)
        )
    page = client.get(f"/searches/{search_id}")
    plot = page.text.split('id="chart-pareto"', 1)[1].split("</svg>", 1)[0]
    links = re.findall(r'<a href="/searches/\d+/trials/(\d+)" class="point( front)?">', plot)
    assert sorted(links) == [("0", ""), ("1", " front"), ("3", "")]


def test_compare_page_marks_the_values_that_differ(seeded) -> None:
    client, search_id = seeded
    page = client.get(f"/compare?t={search_id}/1&t={search_id}/3")
    assert page.status_code == 200
    table = page.text.split('id="compare"', 1)[1].split("</table>", 1)[0]
    marked = re.findall(
        r'<tr class="diff">\s*<th scope="row"><span[^>]*>≠</span> ([^<]+)</th>', table
    )
    assert "Best val acc" in marked and "Cells" in marked and "training.lr" in marked
    assert "Status" not in marked  # both completed
    assert page.text.count('class="node ') > 0 and 'id="c1-steps"' in page.text
    search_page = client.get(f"/searches/{search_id}")
    assert f'value="{search_id}/3" form="compare-form"' in search_page.text


@pytest.mark.parametrize(
    "query", ["", "?t=1/1", "?t=nonsense&t=1/2", "?t=1/1&t=1/2&t=1/3&t=1/4&t=1/5"]
)
def test_compare_asks_for_two_to_four_trials(seeded, query: str) -> None:
    client, _ = seeded
    page = client.get(f"/compare{query}")
    assert page.status_code == 422 and "t: " in page.text

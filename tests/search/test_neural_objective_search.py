"""Real searches with a neural_fit objective (issue 14), on SQLite under Ray Tune, on synthetic
neural data: every completed trial records its fit and its layer x bin table, the leaderboard
orders by the fit, the API's trial record and the trial page show the table, and val_acc with
neural_fit makes a Pareto front."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from api.app import create_app
from api.settings import ApiSettings
from search import service as svc
from search.records import repository as repo
from search.records.db import Trial, create_db_engine, session_scope
from search.records.leaderboard import leaderboard
from search.records.lifecycle import create_search
from search.records.pareto import pareto_mask
from search.run.driver import run_search
from space.sampling import RandomSampler, freeze
from space.spec import SearchSpec, spec_from_data
from tests.search.search_helpers import spec_data
from workers.neural.synthetic import make_synthetic

pytestmark = [pytest.mark.ray, pytest.mark.slow]
API = "/api/v1"


def make_client(url: str) -> TestClient:
    return TestClient(create_app(ApiSettings(database_url=url)), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def neural_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic IT responses from the tiny space's own conv1 at step (bin) 2."""
    path = tmp_path_factory.mktemp("neural") / "syn.npz"
    data = spec_data(single=True)
    hidden = freeze(spec_from_data(data), RandomSampler(0))
    make_synthetic(
        path, arch=hidden, input_size=None, layer="conv1", bin=2, bins=3, n_images=90,
        neurons=16, image_size=16, noise=1.0, reps=4,
    )  # fmt: skip
    return path


def neural_spec(path: Path, objectives: list[dict[str, Any]], trials: int) -> SearchSpec:
    data = spec_data(trials=trials, concurrency=2, objectives=objectives, scheduler="fifo")
    data["neural"] = {"data": f"neural:{path}", "layers": "all", "folds": 3}
    return spec_from_data(data)


def run(tmp_path: Path, spec: SearchSpec) -> tuple[Engine, str, int, list[Trial]]:
    url = f"sqlite:///{tmp_path / 'convnas.db'}"
    engine = create_db_engine(url)
    search_id = create_search(engine, spec)
    outcome = run_search(engine, search_id, runs_dir=tmp_path / "runs")
    assert outcome.status == "succeeded", outcome
    with session_scope(engine) as s:
        rows = list(s.scalars(select(Trial).where(Trial.search_id == search_id)))
        s.expunge_all()
    return engine, url, search_id, rows


@pytest.fixture(scope="module")
def fit_search(
    neural_data: Path, ray_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, str, int, list[Trial]]]:
    spec = neural_spec(neural_data, [{"metric": "neural_fit", "region": "IT"}], trials=4)
    found = run(tmp_path_factory.mktemp("fit"), spec)
    yield found
    found[0].dispose()


def test_every_completed_trial_records_its_fit_and_table(fit_search) -> None:
    _engine, _url, _id, rows = fit_search
    completed = [r for r in rows if r.status == "completed"]
    assert completed, [(r.status, r.error) for r in rows]
    for row in completed:
        assert isinstance(row.neural_fit, float) and row.neural_fit > 0.2
        table = row.neural
        assert table is not None and table["selection"]["nested"]["objective"] == row.neural_fit
        assert table["selection"]["max"] == table["best"]["normalized"]  # the optimistic one
        assert {r["layer"] for r in table["rows"]} == {
            layer["name"] for layer in row.arch["layers"]
        }
        assert {r["bin"] for r in table["rows"]} == {0, 1, 2}
        assert row.values == [row.neural_fit]  # what Optuna was told


def test_the_leaderboard_orders_by_the_fit(fit_search) -> None:
    engine, _url, search_id, _rows = fit_search
    with session_scope(engine) as s:
        board, total, sort = leaderboard(s, repo.resolve_search(s, search_id))
        fits = [t.neural_fit for t in board]
    assert sort.endswith("neural_fit") and total == len(fits) >= 1
    assert fits == sorted(fits, reverse=True)
    page = svc.trials(engine, search_id, svc.TrialQuery(sort="-neural_fit"))
    assert [t.neural_fit for t in page.items] == fits


def test_the_api_record_and_the_page_show_the_table(fit_search) -> None:
    _engine, url, search_id, rows = fit_search
    best = max((r for r in rows if r.neural_fit is not None), key=lambda r: r.neural_fit)
    with make_client(url) as client:
        record = client.get(f"{API}/searches/{search_id}/trials/{best.number}")
        assert record.status_code == 200
        body = record.json()
        assert body["neural_fit"] == best.neural_fit and body["neural"] == best.neural
        page = client.get(f"/searches/{search_id}/trials/{best.number}")
    assert page.status_code == 200
    html = page.text
    assert 'id="neural-heading"' in html and 'data-region="IT"' in html
    assert html.count('class="cell') + html.count("class='cell") >= 3  # a cell per layer x bin
    assert "no ceiling" in html  # the legend's null swatch


@pytest.fixture(scope="module")
def pareto_search(
    neural_data: Path, ray_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, str, int, list[Trial]]]:
    objectives = [{"metric": "val_acc"}, {"metric": "neural_fit", "region": "IT"}]
    found = run(tmp_path_factory.mktemp("pareto"), neural_spec(neural_data, objectives, 5))
    yield found
    found[0].dispose()


def test_val_acc_and_neural_fit_make_a_pareto_front(pareto_search) -> None:
    engine, _url, search_id, rows = pareto_search
    completed = [r for r in rows if r.status == "completed"]
    assert len(completed) >= 2
    points = [(r.best_val_acc, r.neural_fit) for r in completed]
    assert all(a is not None and f is not None for a, f in points)
    expected = pareto_mask(points, ["max", "max"])  # type: ignore[arg-type]
    assert [bool(r.pareto) for r in completed] == expected
    assert all(r.values == [r.best_val_acc, r.neural_fit] for r in completed)
    front = svc.pareto(engine, search_id)
    on_front = {r.number for r, on in zip(completed, expected, strict=True) if on}
    assert {t.trial for t in front.items} == on_front

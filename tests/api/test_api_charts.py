"""The charts and importance routes and the service behind them, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from search import service
from search.records.db import Search, Trial, decode_cells, read_scope, session_scope
from search.records.studies import rdb_storage
from search.service import charts
from search.service.charts import IMPORTANCE_MIN_TRIALS
from tests.search.service_helpers import populate

API = "/api/v1"
KINDS = ["", ",rgc,", ",lstm,", ",rgc,lstm,", ",gru,rgc,"]


def add_trials(engine: Engine, search_id: int, count: int, seed: int = 0, start: int = 10) -> None:
    """``count`` trials (numbers from ``start``): most completed with random accuracy and cell
    kinds, some failed, a few completed without accuracy."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(count):
        status = "failed" if rng.random() < 0.1 else "completed"
        acc = None if status == "failed" or rng.random() < 0.02 else round(rng.random(), 3)
        rows.append({
            "search_id": search_id, "number": start + i, "status": status, "arch": {},
            "arch_hash": f"h{i}", "config_hash": f"c{i}", "params": {},
            "best_val_acc": acc, "last_val_acc": acc, "epochs": 1, "pareto": False,
            "cell_kinds": rng.choice(KINDS), "n_params": 1000 + i,
        })  # fmt: skip
    with session_scope(engine) as s:
        for at in range(0, count, 5000):
            s.execute(insert(Trial), rows[at : at + 5000])


def brute_force(engine: Engine, search_id: int) -> dict[str, list[float]]:
    with read_scope(engine) as s:
        rows = s.execute(
            select(Trial.cell_kinds, Trial.best_val_acc).where(
                Trial.search_id == search_id, Trial.status == "completed"
            )
        ).all()
    groups: dict[str, list[float]] = {}
    for cells, acc in rows:
        if acc is not None:
            groups.setdefault(" + ".join(decode_cells(cells)) or "feedforward", []).append(acc)
    return groups


def test_best_so_far_is_monotone_and_only_at_improvements(engine: Engine, client: TestClient):
    sid = populate(engine)
    add_trials(engine, sid, 500)
    got = client.get(f"{API}/searches/{sid}/charts")
    assert got.status_code == 200, got.text
    best = got.json()["best_so_far"]
    assert best["metric"] == "val_acc" and best["goal"] == "max"
    with read_scope(engine) as s:
        rows = s.execute(
            select(Trial.number, Trial.best_val_acc)
            .where(Trial.search_id == sid, Trial.status == "completed")
            .order_by(Trial.number)
        ).all()
    expected, top = [], None
    for number, acc in rows:
        if acc is not None and (top is None or acc > top):
            top = acc
            expected.append({"trial": number, "value": acc})
    assert best["points"] == expected
    values = [p["value"] for p in best["points"]]
    assert values == sorted(values) and len(set(values)) == len(values)  # strictly rising
    assert best["last_trial"] == rows[-1][0]
    assert len(values) < 30  # the improvements only, not one point per trial


def test_per_cell_kind_stats_equal_a_brute_force_computation(engine: Engine, client: TestClient):
    sid = populate(engine)
    add_trials(engine, sid, 2000, seed=3)
    body = client.get(f"{API}/searches/{sid}/charts").json()
    groups = brute_force(engine, sid)
    assert {k["label"] for k in body["by_cells"]} == set(groups)
    for k in body["by_cells"]:
        values = sorted(groups[k["label"]])
        q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
        assert k["count"] == len(values)
        assert k["min"] == values[0] and k["max"] == values[-1]
        assert abs(k["q1"] - q1) < 1e-9 and abs(k["q3"] - q3) < 1e-9
        assert abs(k["median"] - median) < 1e-9
        assert k["cells"] == [c for c in k["label"].split(" + ") if c != "feedforward"]
    medians = [k["median"] for k in body["by_cells"]]
    assert medians == sorted(medians, reverse=True)
    with_acc = sum(len(v) for v in groups.values())
    assert body["completed"] == with_acc + _without_acc(engine, sid)


def _without_acc(engine: Engine, sid: int) -> int:
    with read_scope(engine) as s:
        return len(
            s.scalars(
                select(Trial.id).where(
                    Trial.search_id == sid,
                    Trial.status == "completed",
                    Trial.best_val_acc.is_(None),
                )
            ).all()
        )


def test_charts_of_a_search_without_completed_trials_are_empty(
    engine: Engine, client: TestClient
) -> None:
    sid = populate(engine, name="empty")
    with session_scope(engine) as s:
        s.query(Trial).filter(Trial.search_id == sid).update({"status": "failed"})
    body = client.get(f"{API}/searches/{sid}/charts").json()
    assert body["best_so_far"]["points"] == [] and body["by_cells"] == []
    assert client.get(f"{API}/searches/999999/charts").status_code == 404
    assert client.get(f"{API}/searches/999999/importance").status_code == 404


def seed_study(engine: Engine, sid: int, count: int) -> None:
    """The search's Optuna study with ``count`` completed trials: the value depends strongly
    on ``training.lr``, weakly on ``model.depth`` and not at all on ``training.noise``."""
    with read_scope(engine) as s:
        name = s.get(Search, sid).study_name  # type: ignore[union-attr]
    storage = rdb_storage(engine.url.render_as_string(hide_password=False))
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
        rng = random.Random(1)
        dists = {
            "training.lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
            "model.depth": optuna.distributions.IntDistribution(1, 8),
            "training.noise": optuna.distributions.CategoricalDistribution(["a", "b"]),
        }
        for _ in range(count):
            params = {
                "training.lr": 10 ** rng.uniform(-4, -1),
                "model.depth": rng.randint(1, 8),
                "training.noise": rng.choice(["a", "b"]),
            }
            value = -abs(params["training.lr"] - 0.01) * 50 + params["model.depth"] * 0.01
            study.add_trial(
                optuna.trial.create_trial(params=params, distributions=dists, value=value)
            )
    finally:
        storage.engine.dispose()


def test_importance_says_not_enough_trials_yet(engine: Engine, client: TestClient) -> None:
    sid = populate(engine)  # two completed trials
    got = client.get(f"{API}/searches/{sid}/importance")
    assert got.status_code == 200
    body = got.json()
    assert body["ready"] is False and body["items"] == []
    assert "not enough trials yet" in body["reason"] and body["completed"] == 2


def test_importance_ranks_every_searched_parameter(engine: Engine, client: TestClient) -> None:
    sid = populate(engine)
    add_trials(engine, sid, 60)
    seed_study(engine, sid, 60)
    started = time.perf_counter()
    got = client.get(f"{API}/searches/{sid}/importance")
    took = time.perf_counter() - started
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["ready"] is True and body["used_trials"] == 60
    found = {i["param"]: i["importance"] for i in body["items"]}
    assert set(found) == {"training.lr", "model.depth", "training.noise"}
    assert all(v >= 0 for v in found.values())
    assert abs(sum(found.values()) - 1) < 1e-6
    assert max(found, key=found.__getitem__) == "training.lr"
    assert took < 10, f"importance took {took:.1f}s"
    # Cached per (search, completed count): the second answer is the same and immediate.
    started = time.perf_counter()
    assert client.get(f"{API}/searches/{sid}/importance").json() == body
    assert time.perf_counter() - started < 0.5


def test_importance_reads_only_the_latest_trials(
    engine: Engine, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts, "IMPORTANCE_MAX_TRIALS", 25)
    sid = populate(engine)
    add_trials(engine, sid, 40)
    seed_study(engine, sid, 60)
    body = client.get(f"{API}/searches/{sid}/importance").json()
    assert body["ready"] is True and body["used_trials"] == 25
    assert len(body["items"]) == 3
    # Read from the database: only those 25 (the latest), not all 60 then cut.
    with read_scope(engine) as s:
        name = s.get(Search, sid).study_name  # type: ignore[union-attr]
    storage = rdb_storage(engine.url.render_as_string(hide_password=False))
    try:
        read = charts._latest_trials(storage, storage.get_study_id_from_name(name))
    finally:
        storage.engine.dispose()
    assert [t.number for t in read] == list(range(35, 60))


def test_importance_before_the_study_has_trials(engine: Engine, client: TestClient) -> None:
    sid = populate(engine)
    add_trials(engine, sid, IMPORTANCE_MIN_TRIALS * 3)  # rows, but Optuna has no study yet
    body = client.get(f"{API}/searches/{sid}/importance").json()
    assert body["ready"] is False and "not enough trials" in body["reason"]


def test_service_exports(engine: Engine) -> None:
    sid = populate(engine)
    assert service.search_charts(engine, sid).completed == 2
    assert service.importance(engine, sid).ready is False

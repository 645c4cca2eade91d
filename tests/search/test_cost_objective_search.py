"""Real searches (the real trainable, Ray Tune, SQLite) whose objectives name a cost metric
(flops, params) that the trainable does not report with every result: Ray Tune's strict check
that each result holds the searcher's metrics must not fail them, since the ledger, not Tune's
searcher, reads the values (from the trial record)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from search.records.db import Trial, create_db_engine, session_scope
from search.records.lifecycle import create_search
from search.records.pareto import pareto_mask
from search.run.driver import run_search
from space.spec import spec_from_data
from tests.search.search_helpers import spec_data

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def run(tmp_path: Path, address: str, objectives: list[dict[str, Any]]) -> list[Trial]:
    spec = spec_from_data(spec_data(trials=3, concurrency=2, objectives=objectives, limit=120))
    engine = create_db_engine(f"sqlite:///{tmp_path / 'convnas.db'}")
    try:
        search_id = create_search(engine, spec)
        outcome = run_search(engine, search_id, ray_address=address, runs_dir=tmp_path / "runs")
        assert outcome.status == "succeeded", outcome
        with session_scope(engine) as s:
            rows = list(s.scalars(select(Trial).where(Trial.search_id == search_id)))
            s.expunge_all()
        return rows
    finally:
        engine.dispose()


def test_val_acc_with_flops(tmp_path: Path, ray_address: str) -> None:
    rows = run(tmp_path, ray_address, [{"metric": "val_acc"}, {"metric": "flops", "goal": "min"}])
    done = [r for r in rows if r.status == "completed"]
    assert done and all(r.flops and r.best_val_acc is not None for r in done)
    assert all(r.values == [r.best_val_acc, float(r.flops)] for r in done)
    expected = pareto_mask([(r.best_val_acc, float(r.flops)) for r in done], ["max", "min"])
    assert [r.pareto for r in done] == expected


@pytest.mark.parametrize("metric", ["flops", "params"])
def test_a_cost_objective_alone(tmp_path: Path, ray_address: str, metric: str) -> None:
    rows = run(tmp_path, ray_address, [{"metric": metric, "goal": "min"}])
    done = [r for r in rows if r.status == "completed"]
    assert done
    column = {"flops": "flops", "params": "n_params"}[metric]
    assert all(r.values == [float(getattr(r, column))] for r in done)

"""Searches end to end under Ray Tune (one Ray runtime shared by the session), both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from search.records import repository as repo
from search.records.db import Search, Trial, TrialMetric, session_scope
from search.records.export import export_trial
from search.records.leaderboard import leaderboard
from search.records.lifecycle import create_search
from search.run.driver import run_search
from tests.search.search_helpers import fake_trainable, tiny_spec

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def rows_of(engine: Engine, search_id: int) -> list[Trial]:
    with session_scope(engine) as s:
        return list(
            s.scalars(select(Trial).where(Trial.search_id == search_id).order_by(Trial.number))
        )


def test_tiny_digits_search_records_everything_and_exports(
    engine: Engine, db_url: str, ray_address: str, tmp_path: Path
) -> None:
    """The issue's smoke test: 4 trials, 2 at a time, the real trainable on digits."""
    spec = tiny_spec(trials=4, concurrency=2, scheduler="fifo")
    search_id = create_search(engine, spec)
    lines: list[str] = []
    start = time.monotonic()
    outcome = run_search(
        engine,
        search_id,
        runs_dir=tmp_path / "runs",
        reporter=lambda p: lines.append(p.line()),
    )
    took = time.monotonic() - start
    assert outcome.status == "succeeded" and outcome.finished == 4, outcome
    assert took < 240, f"the tiny search took {took:.0f}s"
    rows = rows_of(engine, search_id)
    trained = [r for r in rows if r.status == "completed"]
    assert len(rows) == 4 and trained
    with session_scope(engine) as s:
        for row in trained:
            epochs = s.scalars(
                select(TrialMetric)
                .where(TrialMetric.trial_id == row.id)
                .order_by(TrialMetric.epoch)
            ).all()
            assert [m.epoch for m in epochs] == [1, 2]
            assert all(m.val_acc is not None and m.train_loss is not None for m in epochs)
            assert all(len(m.val_acc_per_step or []) == 3 for m in epochs)
            assert row.best_val_acc == max(m.val_acc or 0 for m in epochs)
            assert row.node and row.train_seconds and row.checkpoint
        board = leaderboard(s, repo.resolve_search(s, search_id))[0]
    accs = [t.best_val_acc for t in board]
    assert accs == sorted(accs, reverse=True)
    # Export round-trip: the file rebuilds a model with the recorded parameter count.
    from space.arch import load_arch
    from space.nn import build_model

    out = tmp_path / "best.yaml"
    with session_scope(engine) as s:
        found = repo.resolve_search(s, search_id)
        exported = export_trial(s, found, None, "yaml", output=out, weights=True)
    arch = load_arch(out)
    model = build_model(arch)
    assert sum(p.numel() for p in model.parameters()) == board[0].n_params
    assert exported.document["provenance"]["trial"]["number"] == board[0].number
    assert exported.weights is not None and exported.weights.is_file()
    import torch

    state = torch.load(exported.weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    # The worker's preprocessing reached the trial row through Tune, and the export.
    assert all(r.preprocessing and r.preprocessing["channels"] == 1 for r in trained)
    assert exported.document["preprocessing"] == board[0].preprocessing
    for row in trained:
        with session_scope(engine) as s:
            extras = s.scalars(select(TrialMetric.extra).where(TrialMetric.trial_id == row.id))
            assert all("config" not in e and "preprocessing" not in e for e in extras)


def test_single_arch_space_trains_once(
    engine: Engine, db_url: str, ray_address: str, tmp_path: Path
) -> None:
    spec = tiny_spec(single=True, trials=4, concurrency=2)
    search_id = create_search(engine, spec)
    outcome = run_search(engine, search_id, trainable=fake_trainable, runs_dir=tmp_path)
    assert outcome.status == "succeeded"
    statuses = [r.status for r in rows_of(engine, search_id)]
    assert statuses.count("completed") == 1 and statuses.count("duplicate") == 3


def test_a_trial_that_raises_is_failed_and_the_search_completes(
    engine: Engine, db_url: str, ray_address: str, tmp_path: Path
) -> None:
    spec = tiny_spec(trials=4, concurrency=2)
    search_id = create_search(engine, spec)
    outcome = run_search(
        engine,
        search_id,
        trainable=fake_trainable,
        runs_dir=tmp_path,
        trial_config={"fail_if_channels": 8},
    )
    assert outcome.status == "succeeded" and outcome.finished == 4
    rows = rows_of(engine, search_id)
    failed = [r for r in rows if r.status == "failed"]
    assert failed, [r.params for r in rows]
    assert all(r.error == "RuntimeError: boom: this candidate always fails" for r in failed)
    assert all(r.arch["layers"][0]["channels"] == 8 for r in failed)


DRIVER_SCRIPT = textwrap.dedent(
    """
    import ray
    from tests.search import search_helpers
    ray.cloudpickle.register_pickle_by_value(search_helpers)
    from search.records.db import create_db_engine
    from search.run.driver import run_search
    run_search(create_db_engine({url!r}), {search_id}, ray_address={address!r}, runs_dir={runs!r},
               trainable=search_helpers.fake_trainable, trial_config={{"sleep": 1.5}})
    """
)


def test_sigkill_then_resume_reaches_exactly_the_requested_trials(
    engine: Engine, db_url: str, ray_address: str, tmp_path: Path
) -> None:
    spec = tiny_spec(trials=6, concurrency=2, epochs=2, scheduler="fifo")
    search_id = create_search(engine, spec)
    code = DRIVER_SCRIPT.format(
        search_id=search_id, url=db_url, address=ray_address, runs=str(tmp_path)
    )
    # `python -c` imports from its working directory: the checkout, where tests/ is a package
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # kill once some finished and others are running
            statuses = [r.status for r in rows_of(engine, search_id)]
            if statuses.count("completed") >= 1 and "running" in statuses:
                break
            assert proc.poll() is None, "the driver ended before it could be killed"
            time.sleep(0.3)
        else:
            pytest.fail("the driver never had finished and running trials at once")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = rows_of(engine, search_id)
    assert any(r.status == "running" for r in before)
    outcome = run_search(engine, search_id, trainable=fake_trainable, runs_dir=tmp_path)
    assert outcome.status == "succeeded"
    rows = rows_of(engine, search_id)
    finished = [r for r in rows if r.status in ("completed", "pruned", "failed", "duplicate")]
    assert len(finished) == 6
    interrupted = sum(r.status == "interrupted" for r in rows)
    assert interrupted >= 1
    assert outcome.not_counted == {"interrupted": interrupted}
    assert outcome.summary() == f"6/6 trials finished ({interrupted} interrupted, not counted)"
    assert len(rows) == 6 + interrupted
    assert len({r.number for r in rows}) == len(rows)
    kept = {r.number: r.best_val_acc for r in before if r.status == "completed"}
    after = {r.number: r.best_val_acc for r in rows}
    assert all(after[n] == acc for n, acc in kept.items())  # completed trials kept as they were
    with session_scope(engine) as s:
        search = s.get(Search, search_id)
        assert search is not None and search.status == "succeeded"
        counts: dict[str, Any] = repo.trial_counts(s, search_id)
    assert counts.get("running", 0) == 0

"""Cluster mode for real on one machine (issue 12): a Ray head and a second node started with
``ray start`` on loopback ports, a search driven by ``convnas search run --address`` against them
and PostgreSQL, its trials spread over both nodes (each node has one CPU and a trial takes one);
then the second node is killed mid-search. Its running trial is recorded failed with the reason
(or, with ``search.retries``, trained again on the other node), the search still reaches its
exact trial count, and a trial that ran on the dead node still exports its weights, which live
under the runs folder (Ray Tune's storage path) that every node reaches.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from api.cli import app
from search import service
from search.records.db import Trial, TrialMetric, create_db_engine, session_scope
from space.status import FINISHED_TRIAL
from tests.search.cluster_helpers import LocalCluster
from tests.search.search_helpers import spec_data

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.ray, pytest.mark.postgres]

CONVNAS = str(Path(sys.executable).parent / "convnas")
TRIALS = 6
# Long enough (a few seconds a trial here) to kill the second node while it trains one.
EPOCHS = 15
SEARCH_TIMEOUT = 150


@pytest.fixture(scope="module")
def head() -> Iterator[LocalCluster]:
    """A Ray head (one CPU, resource node_a) for the module; every process it started is
    killed at the end, also when a test fails."""
    pytest.importorskip("ray")
    local = LocalCluster()
    try:
        local.start_node("head", "node_a", head=True)
        yield local
    finally:
        local.stop()


@pytest.fixture
def cluster(head: LocalCluster) -> Iterator[tuple[LocalCluster, dict[str, str]]]:
    """The head and a fresh second node (one CPU, resource node_b), killed at the end; with
    the node id of each."""
    node = head.start_node("node_b", "node_b")
    try:
        yield head, head.nodes({"node_a", "node_b"})
    finally:
        node.kill()
        head.started.remove(node)


def _trials(engine: Engine) -> list[Trial]:
    with session_scope(engine) as s:
        rows = list(s.scalars(select(Trial).order_by(Trial.number)))
        s.expunge_all()
        return rows


def _short(node_id: str) -> str:
    return node_id[:8]


def _wait_then_kill(
    local: LocalCluster,
    engine: Engine,
    node_b: str,
    driver: Any,
    need_done: bool = True,
    avoid: tuple[int, ...] = (),
) -> list[int]:
    """Once a trial has completed on node_b (unless not ``need_done``) and another trains
    there, kill node_b (its raylet and workers); returns the numbers of the trials it was
    training. Not while that trial's recorded epochs are its last or in ``avoid`` (ASHA's
    rungs): the trial may be ending right then, and the kill would find nothing to retry."""
    worker = next(s for s in reversed(local.started) if s.log.name == "node_b.log")
    deadline = time.monotonic() + SEARCH_TIMEOUT
    while time.monotonic() < deadline:
        assert driver.proc.poll() is None, driver.text()[-3000:]
        rows = _trials(engine)
        on_b = [t for t in rows if t.node and t.node.endswith(_short(node_b))]
        done = [t for t in on_b if t.status == "completed" and t.checkpoint]
        busy = [
            t
            for t in on_b
            if t.status == "running" and 1 <= t.epochs < EPOCHS and t.epochs not in avoid
        ]
        if busy and (done or not need_done):
            worker.kill()
            return [t.number for t in busy]
        time.sleep(0.3)
    raise AssertionError(f"no trial trained on node_b in time:\n{driver.text()[-3000:]}")


def _run_search(
    local: LocalCluster, pg_url: str, retries: int, scheduler: str = "fifo", trials: int = TRIALS
) -> tuple[Any, Path, Path]:
    data = spec_data("cluster", trials=trials, concurrency=2, epochs=EPOCHS, scheduler=scheduler)
    data["search"]["retries"] = retries
    spec = local.root / "spec.yaml"
    spec.write_text(yaml.safe_dump(data))
    storage = local.root / "storage"
    args = [CONVNAS, "search", "run", str(spec), "--db", pg_url, "--storage", str(storage)]
    if retries:  # the runner finds the cluster by its setting, or by its flag
        driver = local.spawn("driver", args, CONVNAS_RAY_ADDRESS=local.address)
    else:
        driver = local.spawn("driver", [*args, "--address", local.address])
    return driver, storage, spec


def _finish(driver: Any) -> None:
    try:
        driver.proc.wait(timeout=SEARCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the search did not end:\n{driver.text()[-4000:]}") from None
    assert driver.proc.returncode == 0, driver.text()[-4000:]


@pytest.mark.parametrize("retries", [0, 1])
def test_a_search_spreads_over_two_nodes_and_survives_losing_one(
    cluster: tuple[LocalCluster, dict[str, str]], pg_url: str, retries: int, tmp_path: Path
) -> None:
    local, nodes = cluster
    started = time.monotonic()
    engine = create_db_engine(pg_url)
    try:
        driver, storage, _ = _run_search(local, pg_url, retries)
        killed = _wait_then_kill(local, engine, nodes["node_b"], driver)
        _finish(driver)
        rows = _trials(engine)
        search = service.get_search(engine, "cluster")
    finally:
        engine.dispose()
    took = time.monotonic() - started
    print(f"cluster search (retries={retries}) took {took:.0f}s")  # the runtime, with -s

    # The exact trial count, every one finished, none interrupted or cancelled.
    assert search.status == "succeeded"
    assert search.finished == TRIALS == len(rows)
    assert all(t.status in FINISHED_TRIAL for t in rows), [(t.number, t.status) for t in rows]
    # Trials ran on both nodes, and the record tells the nodes apart (one IP for both here).
    labels = {t.node for t in rows if t.node}
    a, b = _short(nodes["node_a"]), _short(nodes["node_b"])
    assert any(label.endswith(a) for label in labels) and any(label.endswith(b) for label in labels)
    spread = {n: sum(1 for t in rows if t.node and t.node.endswith(n)) for n in (a, b)}
    print(f"trials per node: {spread}; killed on node_b: {killed}")

    lost = [t for t in rows if t.number in killed]
    assert lost
    for trial in lost:
        if retries:  # trained again, on the node left
            assert trial.status == "completed", (trial.status, trial.error)
            assert trial.node and trial.node.endswith(a)
            assert trial.error and trial.error.startswith("retried (1x) after: node died")
            assert trial.epochs == EPOCHS
        else:
            assert trial.status == "failed"
            assert trial.error and trial.error.startswith("node died or worker killed: ")
    others = [t for t in rows if t.number not in killed]
    assert all(t.status in ("completed", "duplicate") for t in others)

    # Checkpoints live in the storage every node reaches, not in a node's temp folder...
    trained = [t for t in rows if t.status == "completed" and t.duplicate_of is None]
    assert trained and all(t.checkpoint for t in trained)
    assert all(Path(str(t.checkpoint)).is_relative_to(storage.resolve()) for t in trained)
    # ... so a trial that ran on the dead node still exports its weights.
    gone = next(t for t in trained if t.node and t.node.endswith(b))
    runner = CliRunner()
    out_file = tmp_path / "best.yaml"
    export = ["export", "cluster", "--trial", str(gone.number), "--weights", "-o", str(out_file)]
    exported = runner.invoke(app, [*export, "--db", pg_url])
    assert exported.exit_code == 0, exported.output
    weights = list(tmp_path.glob("best.weights.*"))
    assert out_file.is_file() and len(weights) == 1 and weights[0].stat().st_size > 0

    # The leaderboard shows each trial's node.
    board = runner.invoke(
        app, ["leaderboard", "cluster", "--status", "all", "--json", "--db", pg_url]
    )
    assert board.exit_code == 0, board.output
    items = json.loads(board.stdout)["items"]
    assert {i["trial"]: i["node"] for i in items} == {t.number: t.node for t in rows}
    table = runner.invoke(app, ["leaderboard", "cluster", "--status", "all", "--db", pg_url])
    header = next(line for line in table.stdout.splitlines() if " rank " in line)
    # (A narrow table folds the node's name over lines: its IP stays whole.)
    assert table.exit_code == 0 and " node " in header
    assert str(gone.node).split("/")[0] in table.stdout


# ASHA's rungs for EPOCHS = 15 (grace period 2, reduction factor 2): a trial it stops has
# trained exactly one of these many epochs.
RUNGS = (2, 4, 8)
# ASHA stops most trials at epoch 2 or 4: more of them, so that the search cannot end before
# node_b has trained one past its first epoch (with 6, it once ended in 12 s on the head alone).
ASHA_TRIALS = 12


def _epoch_rows(engine: Engine, numbers: list[int]) -> dict[int, list[TrialMetric]]:
    with session_scope(engine) as s:
        query = (
            select(Trial.number, TrialMetric)
            .join(TrialMetric, TrialMetric.trial_id == Trial.id)
            .where(Trial.number.in_(numbers))
            .order_by(TrialMetric.epoch)
        )
        found: dict[int, list[TrialMetric]] = {n: [] for n in numbers}
        for number, metric in s.execute(query).all():
            found[number].append(metric)
        s.expunge_all()
        return found


def test_under_asha_a_retried_trial_resumes_from_its_checkpoint_at_the_right_rung(
    cluster: tuple[LocalCluster, dict[str, str]], pg_url: str
) -> None:
    """Issue 20: node_b dies while a trial trains its second epoch or later; the retry goes on
    from its last checkpoint on node_a. Its earlier epochs are not trained again (their records
    predate the retry), and ASHA, which counts epochs, stops it only at a rung (before, Tune's
    count of results ran ahead of the restarted epochs and ASHA pruned it at epoch 1)."""
    local, nodes = cluster
    started = time.monotonic()
    engine = create_db_engine(pg_url)
    try:
        driver, _, _ = _run_search(local, pg_url, 1, scheduler="asha", trials=ASHA_TRIALS)
        killed = _wait_then_kill(
            local, engine, nodes["node_b"], driver, need_done=False, avoid=RUNGS
        )
        _finish(driver)
        rows = {t.number: t for t in _trials(engine)}
        epochs = _epoch_rows(engine, killed)
        search = service.get_search(engine, "cluster")
    finally:
        engine.dispose()
    print(f"ASHA cluster search took {time.monotonic() - started:.0f}s; killed: {killed}")
    assert search.status == "succeeded" and search.finished == ASHA_TRIALS
    assert killed
    for number in killed:
        trial = rows[number]
        first, second = trial.attempts or []
        print(
            f"trial {number}: {trial.status} after {trial.epochs} epochs; attempts {first} {second}"
        )
        assert first["outcome"] == "retried" and first["epochs"] >= 1
        assert first["node"].endswith(_short(nodes["node_b"]))
        assert second["node"].endswith(_short(nodes["node_a"]))
        assert second["outcome"] == trial.status in ("completed", "pruned")
        assert trial.status == "completed" or trial.epochs in RUNGS, trial.epochs
        recorded = epochs[number]
        assert [m.epoch for m in recorded] == list(range(1, trial.epochs + 1))  # one row each
        # The retry went on from the last checkpoint Tune had registered: the last reported
        # epoch, or (when the node died between that report and its registration) the one
        # before, which is then trained again. Never from the first epoch.
        retry_began = datetime.fromisoformat(second["started_at"])
        again = [m.epoch for m in recorded if m.recorded_at > retry_began]
        assert again and min(again) >= first["epochs"], (again, first)
        kept = [m.epoch for m in recorded if m.recorded_at <= retry_began]
        assert kept == list(range(1, min(again))), (kept, again)

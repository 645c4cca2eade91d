"""Where a trial's checkpoint lives and what happens when its worker dies (issue 12), without a
cluster: the failure message of a lost worker, the ledger's retry bookkeeping (both backends, no
Ray), and under a local Ray a retried trial whose checkpoint is kept under the runs folder (Ray
Tune's storage path) and exported after Ray is gone."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from api.cli import app
from search.records.db import Trial, session_scope
from search.records.lifecycle import create_search
from space.errors import SpecError
from space.spec import spec_from_data
from tests.search.search_helpers import epoch_result, spec_data, tiny_spec
from tests.search.test_trial_run_facts import new_ledger, trial_row

runner = CliRunner()

# What Ray Tune wrote for a trial whose node was killed (error.txt, Ray 2.60).
LOST = (
    "Failure # 1 (occurred at 2026-11-30_21-03-25)\n"
    "The actor 5a3e4f21941ada991138086c03000000 is unavailable: The actor is temporarily "
    "unavailable: RpcError: RPC error: recvmsg:Connection reset by peer rpc_code: 14. The task "
    "may or may not have been executed on the actor.\n"
)
RAISED = (
    "Failure # 1 (occurred at 2026-11-30_21-03-25)\n"
    "Traceback (most recent call last):\n"
    '  File "trainable.py", line 3, in train\n'
    "ValueError: boom\n"
)


class FakeTrial:
    def __init__(self, error_file: Path) -> None:
        self.error_file = str(error_file)
        self.trial_id = "t0"


def test_a_lost_worker_reads_node_died_and_an_error_its_own_line(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from search.run.tune_adapters import error_message

    lost, raised = tmp_path / "lost.txt", tmp_path / "raised.txt"
    lost.write_text(LOST)
    raised.write_text(RAISED)
    message = error_message(FakeTrial(lost))
    assert message.startswith("node died or worker killed: The actor 5a3e4f21941a")
    assert "Connection reset by peer" in message
    assert error_message(FakeTrial(raised)) == "ValueError: boom"
    assert error_message(FakeTrial(tmp_path / "gone.txt")).startswith("the trial raised")


def test_retries_is_a_spec_field_naming_a_bad_value() -> None:
    assert tiny_spec().search.retries == 0
    data = spec_data()
    data["search"]["retries"] = 2
    assert spec_from_data(data).search.retries == 2
    data["search"]["retries"] = -1
    with pytest.raises(SpecError, match=r"search\.retries"):
        spec_from_data(data)


def test_a_retried_trial_keeps_its_epochs_and_each_attempt(engine: Engine, db_url: str) -> None:
    ledger = new_ledger(engine, db_url)
    proposal = ledger.propose("t0")
    assert proposal is not None
    ledger.started("t0", "10.0.0.2/bbbb2222")
    for epoch in (1, 2):  # a reported bare IP does not replace the driver's node name
        ledger.report("t0", {**epoch_result(epoch, 0.6 + epoch / 10), "node": "10.0.0.2"})
    assert trial_row(engine, ledger.search_id, proposal.number).node == "10.0.0.2/bbbb2222"
    ledger.retrying("t0", "node died or worker killed: The actor is unavailable")
    row = trial_row(engine, ledger.search_id, proposal.number)
    # The retry resumes from its last checkpoint (every reported epoch has one): epochs stand.
    assert row.status == "running" and row.epochs == 2 and row.best_val_acc == 0.8
    assert row.error == "retried (1x) after: node died or worker killed: The actor is unavailable"
    # It goes on on the node left, with its third epoch.
    ledger.started("t0", "10.0.0.1/aaaa1111")
    ledger.report("t0", epoch_result(3, 0.9, "completed"))
    ledger.finish("t0", None, error=False)
    row = trial_row(engine, ledger.search_id, proposal.number)
    assert row.status == "completed" and row.node == "10.0.0.1/aaaa1111"
    assert (row.epochs, row.best_val_acc, row.last_val_acc) == (3, 0.9, 0.9)
    assert row.error is not None and row.error.startswith("retried (1x)")
    first, second = row.attempts or []
    assert (first["attempt"], first["node"], first["epochs"]) == (1, "10.0.0.2/bbbb2222", 2)
    assert first["outcome"] == "retried" and "node died" in first["error"]
    assert (second["node"], second["epochs"], second["outcome"]) == (
        "10.0.0.1/aaaa1111",
        3,
        "completed",
    )
    assert second["error"] is None and second["ended_at"] >= second["started_at"]
    shown = runner.invoke(app, ["trial", str(ledger.search_id), str(row.number), "--db", db_url])
    assert shown.exit_code == 0, shown.output
    assert "attempt 1 on 10.0.0.2/bbbb2222: retried after 2 epochs: node died" in shown.output
    assert "attempt 2 on 10.0.0.1/aaaa1111: completed after 3 epochs" in shown.output


# --------------------------------------------------------------------------------------------
# Under a local Ray
# --------------------------------------------------------------------------------------------


def fails_once_then_checkpoints(config: dict[str, Any]) -> None:
    """Raises on its first run (a marker file remembers it), then trains 'epochs' that each
    report a checkpoint folder holding weights (improving: each is the best so far)."""
    import tempfile

    from ray import tune

    arch = json.dumps(config["arch"], sort_keys=True).encode()
    marker = Path(config["marker_dir"]) / hashlib.sha256(arch).hexdigest()
    if not marker.exists():
        marker.write_text("failed once")
        raise RuntimeError("first run fails")
    for epoch in (1, 2, 3):
        folder = tempfile.mkdtemp()  # a node-local temporary folder, as the worker's is
        Path(folder, "model.pt").write_bytes(b"weights %d" % epoch)
        result = epoch_result(epoch, 0.2 * epoch, "completed" if epoch == 3 else "running")
        tune.report(result, checkpoint=tune.Checkpoint.from_directory(folder))


@pytest.mark.ray
@pytest.mark.slow
def test_retried_trials_checkpoint_into_the_runs_folder_and_export_after_ray_is_gone(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    ray = pytest.importorskip("ray")
    from search.run.driver import run_search
    from tests.search import search_helpers

    # The trainable and its helpers travel to the workers by value (tests/ need not be on their
    # path).
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.cloudpickle.register_pickle_by_value(search_helpers)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    data = spec_data(trials=2, concurrency=2, scheduler="fifo")
    data["search"]["retries"] = 1
    search_id = create_search(engine, spec_from_data(data))
    runs = tmp_path / "runs"
    (tmp_path / "marks").mkdir()
    config = {"marker_dir": str(tmp_path / "marks")}
    # A local Ray of this run only: it is shut down when the search ends.
    outcome = run_search(
        engine,
        search_id,
        runs_dir=runs,
        trainable=fails_once_then_checkpoints,
        num_cpus=2,
        trial_config=config,
    )
    assert outcome.status == "succeeded" and outcome.finished == 2, outcome
    assert not ray.is_initialized()
    with session_scope(engine) as s:
        rows = list(s.scalars(select(Trial).where(Trial.search_id == search_id)))
        s.expunge_all()
    trained = [r for r in rows if r.duplicate_of is None]
    assert trained
    for row in trained:
        assert row.status == "completed" and row.epochs == 3
        assert row.error and row.error.startswith("retried (1x) after: RuntimeError: first run")
        assert [a["outcome"] for a in row.attempts or []] == ["retried", "completed"]
        checkpoint = Path(str(row.checkpoint))
        # Under the runs folder (the storage every node reaches), the best (last) one only.
        assert checkpoint.is_relative_to(runs.resolve())
        assert sorted(p.name for p in checkpoint.parent.glob("checkpoint_*")) == [checkpoint.name]
    out = tmp_path / "best.yaml"
    result = runner.invoke(
        app, ["export", str(search_id), "--weights", "-o", str(out), "--db", db_url]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "best.weights.pt").read_bytes() == b"weights 3"

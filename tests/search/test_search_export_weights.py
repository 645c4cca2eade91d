"""Exported weights are usable: the export records the input preprocessing, and replaying it on
the raw digits images gives back the recorded validation accuracy (both backends, no Ray)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.cli import app
from search.records import repository as repo
from search.records.db import session_scope
from space.arch import load_arch
from tests.search.search_helpers import tiny_spec
from tests.search.test_search_ledger import new_ledger
from workers.data import preprocess
from workers.data.prepare import _split
from workers.trainable import run_trial

runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONVNAS_THREADS", "1")
    monkeypatch.setenv("CONVNAS_DATA_DIR", str(tmp_path / "data"))


def _train_one(engine: Engine, db_url: str, keep: Path) -> tuple[int, int]:
    """One real trial through the ledger, the way the driver runs it (minus Ray)."""
    ledger = new_ledger(engine, db_url, tiny_spec(single=True, trials=1, epochs=4, limit=800))
    # Adam learns the 8 px digits in a few seconds (the spec's SGD needs more epochs).
    ledger.trial_config = {"checkpoint": True, "training": {"optimizer": "adam", "lr": 0.02}}
    proposal = ledger.propose("t0")
    assert proposal is not None

    def report(metrics: dict[str, Any], checkpoint: str | None) -> None:
        if checkpoint:  # Tune would persist the folder; the worker's is temporary
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(checkpoint, keep)
        ledger.report("t0", metrics)

    result = run_trial(proposal.config, report)
    assert result is not None and result.status == "completed", result
    ledger.finish("t0", None, error=False)
    ledger.set_checkpoint(proposal.number, str(keep))
    return ledger.search_id, proposal.number


def test_export_with_weights_reproduces_val_acc_from_raw_images(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    search_id, number = _train_one(engine, db_url, tmp_path / "ckpt")
    with session_scope(engine) as s:
        trial = repo.get_trial(s, search_id, number)
        recorded = trial.best_val_acc
        assert trial.preprocessing and trial.preprocessing["channels"] == 1
        for metric in trial.metrics:  # stored once on the trial, not every epoch
            assert "preprocessing" not in metric.extra
    out = tmp_path / "best.yaml"
    result = runner.invoke(
        app, ["export", str(search_id), "--weights", "-o", str(out), "--db", db_url]
    )
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(out.read_text())
    prep = document["preprocessing"]
    assert prep["format"] == "convnas.preprocessing/1"
    assert (prep["input_size"], prep["channels"], prep["value_range"]) == (8, 1, [0, 255])
    assert len(prep["mean"]) == len(prep["std"]) == 1 and prep["class_names"][:2] == ["0", "1"]
    assert "255/16" in prep["value_note"] and "bilinear" in prep["resize"]

    from space.nn import build_model

    model = build_model(load_arch(out))
    weights = out.with_name(document["provenance"]["weights"]["file"])
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()

    # The raw images as scikit-learn ships them, prepared only as the record says.
    from sklearn.datasets import load_digits

    digits = load_digits()
    raw = np.rint(np.asarray(digits.images) * (255.0 / 16.0)).astype(np.uint8)
    _, val = _split(len(raw), 0.2, 0)  # the search's split (digits, val_fraction 0.2, seed 0)
    with torch.no_grad():
        logits = model(preprocess(raw[val], prep)).decoded
    accuracy = float((logits.argmax(-1).numpy() == digits.target[val]).mean())
    assert recorded is not None and recorded > 0.2  # clearly above chance: a real model
    assert accuracy == pytest.approx(recorded, abs=0.01)
    # Without the normalisation the same weights do worse: the record matters.
    with torch.no_grad():
        plain = model(torch.from_numpy(raw[val]).float().div(255).unsqueeze(1)).decoded
    assert float((plain.argmax(-1).numpy() == digits.target[val]).mean()) < accuracy

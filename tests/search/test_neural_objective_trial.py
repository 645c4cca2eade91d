"""A trial with neural settings (issue 14): the trainable fits the trained model to the neural
data after its last epoch and reports ``neural_fit`` and the ``neural`` table; a fit that fails
fails the trial with a named reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from space.arch import Arch
from space.sampling import RandomSampler, freeze
from space.spec import SearchSpec, spec_from_data
from tests.search.search_helpers import spec_data
from workers.neural.synthetic import make_synthetic
from workers.trainable import run_trial

pytestmark = pytest.mark.slow


def synthetic_spec(path: Path, **search: Any) -> tuple[SearchSpec, dict[str, Any]]:
    """The tiny digits search with a neural_fit objective on data generated from its own
    arch's conv1 at step (bin) 2: the truth is known (ceiling, best layer and bin)."""
    data = spec_data(objectives=[{"metric": "neural_fit", "region": "IT"}], scheduler="fifo")
    data["search"].update(search)
    data["neural"] = {"data": f"neural:{path}", "folds": 3}
    spec = spec_from_data(data)
    hidden = freeze(spec_from_data({**data, "layers": data["layers"][:1]}), RandomSampler(0))
    truth = make_synthetic(path, **synthetic_options(hidden))
    return spec, truth


def synthetic_options(hidden: Arch) -> dict[str, Any]:
    return {
        "arch": hidden, "input_size": None, "layer": "conv1", "bin": 2, "bins": 3,
        "n_images": 90, "neurons": 16, "image_size": 16, "noise": 1.0, "reps": 4,
    }  # fmt: skip


def run(config: dict[str, Any]) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = []
    run_trial(config, lambda metrics, _ckpt: reports.append(dict(metrics)))
    return reports


def trial_config(spec: SearchSpec, **neural: Any) -> dict[str, Any]:
    arch = freeze(spec, RandomSampler(1))
    settings = {**(spec.neural_config() or {}), **neural}
    return {"arch": arch.to_dict(), "dataset": spec.dataset.to_ref(), "neural": settings,
            "checkpoint": True}  # fmt: skip


def test_the_final_report_carries_the_fit_and_its_table(tmp_path: Path) -> None:
    spec, truth = synthetic_spec(tmp_path / "syn.npz")
    reports = run(trial_config(spec))
    *epochs, last = reports
    assert last["status"] == "completed" and last["final"] is True
    # every earlier report names the key (Ray Tune checks each result for the searcher's metric)
    assert epochs and all(r["neural_fit"] is None for r in epochs)
    fit, table = last["neural_fit"], last["neural"]
    assert isinstance(fit, float) and 0.3 < fit < truth["best_normalized"] + 0.3
    # the objective is the nested fit; the table's best cell is the (optimistic) maximum
    assert table["selection"]["nested"]["objective"] == fit and table["best"]["region"] == "IT"
    assert table["selection"]["max"] == table["best"]["normalized"]
    layers = {row["layer"] for row in table["rows"]}
    assert layers and {row["bin"] for row in table["rows"]} == {0, 1, 2}
    assert len(table["rows"]) == len(layers) * 3
    assert {c["bin"] for c in table["ceiling"]} == {0, 1, 2}
    assert 0 < last["neural_seconds"] < 60 and table["seconds"] > 0


def test_a_fit_that_fails_fails_the_trial_with_its_reason(tmp_path: Path) -> None:
    spec, _ = synthetic_spec(tmp_path / "syn.npz")
    # three bins of two steps each need six model steps; the arch has three
    reports = run(trial_config(spec, steps_per_bin=2))
    last = reports[-1]
    assert last["status"] == "failed" and last["final"] is True
    assert last["reason"].startswith("neural fit: ")
    assert "steps_per_bin" in last["reason"] or "time.steps" in last["reason"]
    assert last["neural_fit"] is None
    assert reports[-2]["status"] == "running"  # the last epoch is still recorded


def test_a_bad_neural_setting_is_invalid_input_named(tmp_path: Path) -> None:
    spec, _ = synthetic_spec(tmp_path / "syn.npz")
    reports = run(trial_config(spec, folds=1))
    [last] = reports
    assert last["status"] == "failed" and "config.neural.folds" in last["reason"]
    assert "neural_fit" in last


def test_pure_noise_fails_the_trial_instead_of_a_confident_fit(tmp_path: Path) -> None:
    spec, _ = synthetic_spec(tmp_path / "syn.npz")
    hidden = freeze(spec, RandomSampler(0))
    make_synthetic(tmp_path / "noise.npz", kind="noise", **synthetic_options(hidden))
    config = trial_config(spec, data=f"neural:{tmp_path / 'noise.npz'}")
    last = run(config)[-1]
    assert last["status"] == "failed" and last["neural_fit"] is None
    assert last["reason"].startswith("neural fit: no finite fit for region IT")

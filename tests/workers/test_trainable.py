from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from workers.trainable import parse_trial_config, run_trial


def _collect(config: dict[str, Any]) -> list[tuple[dict[str, Any], str | None]]:
    reports: list[tuple[dict[str, Any], str | None]] = []
    run_trial(config, lambda metrics, ckpt: reports.append((metrics, ckpt)))
    return reports


def test_trial_reports_every_epoch_and_final(tiny_data: Any) -> None:
    config = {
        "arch": tiny_data(),
        "dataset": {"name": "digits", "limit": 128},
        "training": {"epochs": 2},
    }
    reports = _collect(config)
    assert [m["epoch"] for m, _ in reports] == [1, 2]
    assert [m["status"] for m, _ in reports] == ["running", "completed"]
    assert reports[-1][0]["final"] is True and "train_seconds" in reports[-1][0]
    assert len(reports[0][0]["val_acc_per_step"]) == 4 and reports[0][0]["arch_hash"]


def test_trial_reports_divergence_and_bad_input(tiny_data: Any) -> None:
    diverging = {
        "arch": tiny_data(optimizer="sgd", lr=10.0, grad_clip=None),
        "dataset": "digits:limit=256",
    }
    last = _collect(diverging)[-1][0]
    assert last["status"] == "diverged" and last["final"] and last["reason"]
    bad = _collect({"arch": tiny_data(), "dataset": "mnist"})
    assert len(bad) == 1 and bad[0][0]["status"] == "failed"
    assert "config.dataset" in bad[0][0]["reason"] and "mnist" in bad[0][0]["reason"]


def test_trial_checkpoints_when_asked(tiny_data: Any, tmp_path: Path) -> None:
    config = {
        "arch": tiny_data(),
        "dataset": "digits:limit=64",
        "training": {"epochs": 1},
        "checkpoint": True,
    }
    reports = _collect(config)
    assert reports[0][1] is not None  # the folder existed while the report was made


def test_parse_trial_config_names_fields(tiny_data: Any) -> None:
    from space.errors import ConvnasError

    with pytest.raises(ConvnasError, match=r"config\.arch"):
        parse_trial_config({"dataset": "digits"})
    with pytest.raises(ConvnasError, match=r"training\.lr"):
        parse_trial_config({"arch": tiny_data(), "dataset": "digits", "training": {"lr": -1}})
    with pytest.raises(ConvnasError, match=r"config\.colour"):
        parse_trial_config({"arch": tiny_data(), "dataset": "digits", "colour": 1})
    _arch, cfg, ref, keep = parse_trial_config(
        {"arch": tiny_data(), "dataset": "digits", "training": {"seed": 5}}
    )
    assert cfg.seed == 5 and cfg.optimizer == "adam" and ref.kind == "digits" and not keep


@pytest.mark.ray
def test_two_trials_under_ray_tune(tiny_data: Any, tmp_path: Path, data_cache: Path) -> None:
    import ray
    from ray import tune

    from workers.trainable import with_trial_resources

    if ray.is_initialized():  # another module's runtime: this test needs its own env vars
        ray.shutdown()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"CONVNAS_DATA_DIR": str(data_cache), "CONVNAS_THREADS": "1"}},
    )
    try:
        tuner = tune.Tuner(
            with_trial_resources(cpus=1),
            param_space={
                "arch": tiny_data(),
                "dataset": {"name": "digits", "limit": 128},
                "training": {"epochs": 2, "lr": tune.grid_search([0.01, 0.02])},
            },
            tune_config=tune.TuneConfig(metric="val_acc", mode="max", num_samples=1),
            run_config=tune.RunConfig(storage_path=str(tmp_path), name="workers-test", verbose=0),
        )
        grid = tuner.fit()
    finally:
        ray.shutdown()
    assert len(grid) == 2 and not grid.errors
    for result in grid:
        history = result.metrics_dataframe
        assert list(history["epoch"]) == [1, 2]
        assert list(history["status"]) == ["running", "completed"]
        assert history["val_acc"].between(0, 1).all()
        assert all(len(steps) == 4 for steps in history["val_acc_per_step"])


def test_a_retried_trial_continues_from_its_last_checkpoint(tiny_data: Any, tmp_path: Path) -> None:
    """What Ray Tune does after a worker dies (search.retries): the trial starts again with its
    last reported checkpoint and trains the epochs left, on the same data order, so its metrics
    are the uninterrupted run's (CPU is deterministic) and a scheduler sees epochs 2 and 3."""
    config = {
        "arch": tiny_data(),
        "dataset": "digits:limit=128",
        "training": {"epochs": 3},
        "checkpoint": True,
    }
    saved = tmp_path / "after-epoch-1"
    reports: list[dict[str, Any]] = []

    def keep_first(metrics: dict[str, Any], folder: str | None) -> None:
        reports.append(metrics)
        assert folder is not None  # every epoch reports one, not only the improved
        if metrics["epoch"] == 1:
            shutil.copytree(folder, saved)

    whole = run_trial(config, keep_first)
    assert whole is not None and [m["epoch"] for m in reports] == [1, 2, 3]
    assert {p.name for p in saved.iterdir()} >= {"weights.pt", "arch.yaml", "resume.pt"}

    resumed: list[tuple[dict[str, Any], str | None]] = []
    result = run_trial(config, lambda m, c: resumed.append((m, c)), str(saved))
    assert result is not None and result.status == "completed"
    assert [m["epoch"] for m, _ in resumed] == [2, 3]
    for (again, _), first in zip(resumed, reports[1:], strict=True):
        assert again["steps"] == first["steps"]
        assert again["val_acc"] == first["val_acc"]
        assert again["train_loss"] == pytest.approx(first["train_loss"], rel=1e-6)
    assert result.best_val_acc == whole.best_val_acc
    assert [m["epoch"] for m in result.history] == [1, 2, 3]  # the first attempt's epoch kept

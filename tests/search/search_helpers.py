"""Specs and tiny trainables shared by the search tests (Ray workers receive them by value:
``ray.cloudpickle.register_pickle_by_value``; the PostgreSQL helpers are ``tests.db_helpers``)."""

from __future__ import annotations

import time
from typing import Any

from space.spec import SearchSpec, spec_from_data


def spec_data(
    name: str = "tiny",
    *,
    trials: int = 4,
    concurrency: int = 2,
    epochs: int = 2,
    single: bool = False,
    objectives: list[dict[str, Any]] | None = None,
    constraints: dict[str, Any] | None = None,
    sampler: str = "tpe",
    scheduler: str | None = None,
    limit: int = 300,
) -> dict[str, Any]:
    """A tiny digits search: 8 px input, one or two small layers, two epochs."""
    searched = not single
    layers: list[dict[str, Any]] = [
        {
            "name": "conv1",
            "channels": {"choice": [4, 8]} if searched else 4,
            "kernel": 3,
            "pool": 2,
            "cell": {"kind": "timedecay"},
        },
        {"name": "conv2", "channels": 8, "kernel": 3, "optional": True} if searched else None,
    ]
    data: dict[str, Any] = {
        "name": name,
        "dataset": {"name": "digits", "limit": limit},
        "input": {"size": 8, "channels": 1},
        "classes": 10,
        "layers": [layer for layer in layers if layer is not None],
        # Two layers at most: the readout first sees the image at step 2, so 3 steps.
        "time": {"steps": 3},
        "training": {
            "lr": {"float": [0.02, 0.2], "log": True} if searched else 0.1,
            "batch_size": 32,
            "epochs": epochs,
        },
        "objectives": objectives or [{"metric": "val_acc", "goal": "max"}],
        "search": {"trials": trials, "concurrency": concurrency, "sampler": sampler, "seed": 0},
    }
    if constraints:
        data["constraints"] = constraints
    if scheduler:
        data["search"]["scheduler"] = scheduler
    return data


def tiny_spec(**kwargs: Any) -> SearchSpec:
    return spec_from_data(spec_data(**kwargs))


def epoch_result(epoch: int, acc: float, status: str = "running") -> dict[str, Any]:
    return {
        "epoch": epoch,
        "training_iteration": epoch,
        "val_acc": acc,
        "train_loss": 1.0 / epoch,
        "val_loss": 1.1 / epoch,
        "val_acc_per_step": [0.0, acc / 2, acc],
        "images_per_sec": 1000.0,
        "elapsed": 0.1 * epoch,
        "status": status,
    }


def fake_trainable(config: dict[str, Any]) -> None:
    """Reports like workers.trainable without torch: accuracy from channels and lr."""
    from ray import tune

    arch = config["arch"]
    epochs = arch["training"]["epochs"]
    if config.get("fail_if_channels") == arch["layers"][0]["channels"]:
        raise RuntimeError("boom: this candidate always fails")
    if config.get("fail"):  # every candidate fails alike (a broken worker, a missing file)
        raise RuntimeError(config["fail"])
    acc = 0.3 + 0.05 * arch["layers"][0]["channels"] + arch["training"]["lr"]
    for epoch in range(1, epochs + 1):
        time.sleep(float(config.get("sleep", 0.05)))
        status = "completed" if epoch == epochs else "running"
        tune.report(epoch_result(epoch, min(acc * epoch / epochs, 1.0), status))

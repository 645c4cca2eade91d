from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from workers.config import TrainConfig
from workers.data import load_dataset
from workers.loop import TrainRun, load_checkpoint, train


def _digits(seed: int = 0, limit: int | None = None):  # type: ignore[no-untyped-def]
    ref = {"name": "digits", "limit": limit} if limit else "digits"
    return load_dataset(ref, 8, 1, 10, seed=seed)


def test_short_run_on_digits_learns(tiny: Any) -> None:
    arch = tiny()
    epochs: list[dict] = []
    cfg = TrainConfig.for_arch(arch, {"epochs": 3})
    result = train(arch, _digits(limit=768), cfg, epochs.append)
    assert result.status == "completed" and result.reason is None
    assert [m["epoch"] for m in epochs] == [1, 2, 3] and result.history == epochs
    last = epochs[-1]
    assert last["val_acc"] > 0.5  # chance is 0.1
    assert len(last["val_acc_per_step"]) == arch.time.steps
    # biological unroll: the readout sees nothing before its first-signal step (chance there)
    assert last["val_acc_per_step"][-1] == pytest.approx(last["val_acc"])
    assert last["val_acc_per_step"][0] < 0.2
    for key in ("train_loss", "val_loss", "images_per_sec", "elapsed"):
        assert math.isfinite(last[key]) and last[key] > 0
    assert last["status"] == "completed" and epochs[0]["status"] == "running"
    assert result.best_val_acc == max(m["val_acc"] for m in epochs)


def test_same_seed_same_metrics(tiny: Any) -> None:
    arch = tiny()
    data = _digits(limit=256)
    cfg = TrainConfig.for_arch(arch, {"epochs": 1, "seed": 3})
    keys = ("train_loss", "val_loss", "val_acc", "val_acc_per_step")
    a, b = train(arch, data, cfg), train(arch, data, cfg)
    assert [[m[k] for k in keys] for m in a.history] == [[m[k] for k in keys] for m in b.history]
    c = train(arch, data, cfg.model_copy(update={"seed": 4}))
    assert c.history[0]["train_loss"] != a.history[0]["train_loss"]


def test_absurd_lr_diverges_with_reason(tiny: Any) -> None:
    arch = tiny()
    cfg = TrainConfig.for_arch(
        arch, {"optimizer": "sgd", "lr": 10.0, "epochs": 3, "grad_clip": None}
    )
    result = train(arch, _digits(limit=256), cfg)
    assert result.status == "diverged"
    assert result.reason is not None and "exploding training loss" in result.reason
    assert "(lr " in result.reason


class _NanModel(torch.nn.Module):
    """A model whose readout turns NaN: the loop must say ``diverged``, not crash or hang."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, images: torch.Tensor) -> Any:
        out = self.inner(images)
        return out._replace(decoded=out.decoded * float("nan"))


def test_nan_loss_diverges(tiny: Any) -> None:
    from space.nn import build_model

    arch = tiny()
    model = _NanModel(build_model(arch))
    result = train(arch, _digits(limit=64), TrainConfig.for_arch(arch), model=model)
    assert result.status == "diverged" and "non-finite training loss (nan" in str(result.reason)


def test_exception_becomes_failed(tiny: Any) -> None:
    arch = tiny()

    def boom(epoch: int, batch: int, loss: float) -> None:
        raise RuntimeError("disk on fire")

    result = train(arch, _digits(limit=64), TrainConfig.for_arch(arch), on_step=boom)
    assert result.status == "failed" and result.reason == "RuntimeError: disk on fire"


def test_step_budget_and_stop(tiny: Any) -> None:
    arch = tiny()
    data = _digits(limit=192)
    result = train(
        arch, data, TrainConfig.for_arch(arch, {"epochs": 5, "max_steps": 6, "batch_size": 32})
    )
    assert result.status == "completed" and result.steps == 6 and len(result.history) == 1
    assert result.history[-1]["status"] == "completed"
    run = TrainRun(arch, data, TrainConfig.for_arch(arch, {"epochs": 5}))
    for _ in run:
        break  # what Tune's scheduler does to a pruned trial
    assert run.result.status in ("stopped", "running")


def test_best_checkpoint_round_trip(tiny: Any, tmp_path: Path) -> None:
    arch = tiny()
    data = _digits(limit=128)
    cfg = TrainConfig.for_arch(arch, {"epochs": 1, "checkpoint_dir": str(tmp_path)})
    result = train(arch, data, cfg)
    assert {p.name for p in tmp_path.iterdir()} == {
        "weights.pt",
        "arch.yaml",
        "metrics.json",
        "preprocessing.json",
        "resume.pt",  # where the run stands, for a retry (workers.resume)
        "history.json",
    }
    loaded_arch, model = load_checkpoint(tmp_path)
    assert loaded_arch.arch_hash == arch.arch_hash
    x = data.batch(data.x_val)
    model.eval()
    with torch.no_grad():
        acc = float((model(x).decoded.argmax(-1) == data.y_val).float().mean())
    assert acc == pytest.approx(result.best_val_acc)


@pytest.mark.parametrize("mode", ["value", "norm"])
def test_grad_clip_mode_is_honoured(tiny: Any, mode: str) -> None:
    """One plain SGD step (lr 1) moves each weight by minus its clipped gradient: clipping by
    value caps every element at ``grad_clip`` (so many sit at the cap and the whole step is far
    longer than ``grad_clip``); clipping by norm caps the whole step's length at it."""
    from space.nn import build_model

    arch, clip = tiny(), 1e-4
    overrides = {
        "optimizer": "sgd",
        "lr": 1.0,
        "momentum": 0.0,
        "weight_decay": 0.0,
        "lr_schedule": "constant",
        "epochs": 1,
        "max_steps": 1,
        "grad_clip": clip,
        "grad_clip_mode": mode,
    }
    cfg = TrainConfig.for_arch(arch, overrides)
    model = build_model(arch, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    result = train(arch, _digits(limit=64), cfg, model=model)
    assert result.status == "completed" and result.steps == 1
    after = list(model.parameters())
    step = torch.cat([(b - a.detach()).flatten() for b, a in zip(before, after, strict=True)])
    if mode == "value":
        assert float(step.abs().max()) == pytest.approx(clip, rel=1e-3)
        assert float(step.norm()) > 10 * clip
    else:
        assert float(step.norm()) == pytest.approx(clip, rel=1e-3)

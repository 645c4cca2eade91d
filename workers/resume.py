"""Where a trial's training stood at its last epoch, so that a retry continues from there.

With ``search.retries``, Ray Tune starts a trial again after its worker or node died, handing it
the last checkpoint the trial reported (``tune.get_checkpoint()``). A trial reports one after
every epoch: the best epoch's weights for export (``weights.pt``, see
:func:`workers.loop.save_checkpoint`) plus, here, the latest epoch's whole state: weights,
optimizer and loss-scaler state, the data order's generator, the step and epoch counters, the
best accuracy so far and the history of epoch metrics. A run restored from it trains the epochs
that were left, on the same data order, as if it had never stopped (on a deterministic device
its metrics are the uninterrupted run's), so a scheduler judging it by epochs sees the right
rung.

Tensors go in ``resume.pt``, loaded with ``weights_only=True`` (no pickles); the history in
``history.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

RESUME_FILE = "resume.pt"
HISTORY_FILE = "history.json"


@dataclass
class ResumeState:
    """A run after ``epoch`` epochs (``step`` optimizer steps, ``elapsed`` seconds)."""

    epoch: int
    step: int
    elapsed: float
    best_val_acc: float | None
    best_epoch: int | None
    model: dict[str, Tensor]
    optimizer: dict[str, Any]
    scaler: dict[str, Any]
    shuffle: Tensor
    history: list[dict[str, Any]] = field(default_factory=list)


def save_resume(folder: str | Path, state: ResumeState) -> None:
    """Write ``state`` into ``folder`` (each file replaced atomically)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {
        "model": {k: v.detach().to("cpu") for k, v in state.model.items()},
        "optimizer": state.optimizer,
        "scaler": state.scaler,
        "shuffle": state.shuffle,
        "counters": {
            "epoch": state.epoch,
            "step": state.step,
            "elapsed": state.elapsed,
            "best_val_acc": state.best_val_acc,
            "best_epoch": state.best_epoch,
        },
    }
    atomic_write(out / RESUME_FILE, lambda p: torch.save(tensors, p))
    text = json.dumps(state.history, default=str) + "\n"
    atomic_write(out / HISTORY_FILE, lambda p: p.write_text(text))


def load_resume(folder: str | Path) -> ResumeState | None:
    """The state saved in ``folder``; None when it holds none (a checkpoint from before)."""
    path = Path(folder) / RESUME_FILE
    if not path.is_file():
        return None
    saved = torch.load(path, map_location="cpu", weights_only=True)
    history_path = Path(folder) / HISTORY_FILE
    history = json.loads(history_path.read_text()) if history_path.is_file() else []
    counters = saved["counters"]
    return ResumeState(
        epoch=int(counters["epoch"]),
        step=int(counters["step"]),
        elapsed=float(counters["elapsed"]),
        best_val_acc=counters["best_val_acc"],
        best_epoch=counters["best_epoch"],
        model=saved["model"],
        optimizer=saved["optimizer"],
        scaler=saved["scaler"],
        shuffle=saved["shuffle"],
        history=history,
    )


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` then rename over ``path``: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)

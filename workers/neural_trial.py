"""The neural fit after a trial's training (issue 14): the one call ``workers.trainable`` makes
when a trial's config carries ``neural`` settings.

The neural data set is loaded once per worker process (Ray reuses its actors trial after trial,
and every trial of a search fits the same file); the model scored is the best epoch's (the
checkpoint the loop keeps) when there is one, else the final weights. The result is two keys
of the final report, ``neural_fit`` (the objective) and ``neural`` (the layer x bin x region
table, ceilings, seconds), plus ``neural_seconds``. Any failure is a :class:`NeuralFitError`
whose message starts with ``neural fit:`` and says what failed: the trial then fails with it.
"""

from __future__ import annotations

import copy
import math
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from space.arch import Arch
from space.errors import ConvnasError
from space.paths import Roots
from space.spec import NeuralFitSettings
from space.validation import errors_from_validation
from workers.errors import WorkerInputError

# The report keys (the ledger records them into trials.neural_fit and trials.neural).
FIT_KEY, TABLE_KEY, SECONDS_KEY = "neural_fit", "neural", "neural_seconds"
WEIGHTS_FILE = "weights.pt"  # what workers.loop.save_checkpoint writes


class NeuralFitError(ConvnasError):
    """The neural fit of a trained trial failed; the message says why."""

    def __init__(self, reason: str):
        super().__init__(f"neural fit: {reason}")


# (path, ceiling, folds) -> ((device, inode, size, mtime_ns), data): one load per file version
# and process.
_CACHE: dict[tuple[str, float | None, int], tuple[tuple[int, ...], Any]] = {}
_CACHE_LOCK = threading.Lock()


def neural_settings(config: Mapping[str, Any]) -> NeuralFitSettings | None:
    """The trial config's ``neural`` settings (None when absent); errors name the field."""
    data = config.get("neural")
    if data is None:
        return None
    if isinstance(data, NeuralFitSettings):
        return data
    try:
        return NeuralFitSettings.model_validate(data)
    except ValidationError as exc:
        first = errors_from_validation(exc, prefix=("config", "neural"))[0]
        value = first.value if first.has_value else None
        raise WorkerInputError(first.path, first.message, value) from None


def load_cached(settings: NeuralFitSettings, roots: Roots | None = None) -> Any:
    """The settings' neural data set, loaded (and checked) once per process while the file is
    unchanged: every trial of a search that a reused Ray actor runs fits the same file.

    The file is opened first, every time (confined to ``roots`` when a server gave them): the
    cache is keyed by what was opened, so a file swapped since (a symlink put in its place, a
    new file) is refused or read again, never served from memory.
    """
    from workers.neural.data import open_neural, read_neural

    path = settings.path
    with open_neural(path, roots) as file:
        stat = os.fstat(file.fileno())
        version = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        key = (path, settings.ceiling, settings.folds)
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None and hit[0] == version:
                return hit[1]
        data = read_neural(file, path, ceiling=settings.ceiling, folds=settings.folds)
    with _CACHE_LOCK:
        _CACHE[key] = (version, data)
    return data


def best_weights(model: Any, checkpoint_dir: str | None) -> Any:
    """A copy of ``model`` with the best epoch's weights when the loop kept them, else
    ``model`` itself (its final weights)."""
    if checkpoint_dir is None or not (Path(checkpoint_dir) / WEIGHTS_FILE).is_file():
        return model
    import torch

    state = torch.load(Path(checkpoint_dir) / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    best = copy.deepcopy(model)
    best.load_state_dict(state)
    return best


def score_trial(
    model: Any,
    arch: Arch,
    settings: NeuralFitSettings,
    preprocessing: Mapping[str, Any],
    checkpoint_dir: str | None = None,
    roots: Roots | None = None,
) -> dict[str, Any]:
    """Fit the trained ``model`` to the neural data: ``{neural_fit, neural, neural_seconds}``;
    the data file confined to ``roots`` (a served search's data roots) when they are given.

    Raises :class:`NeuralFitError` naming what failed (a bad file, a bin beyond the model's
    steps, a fit that gave no finite objective).
    """
    from workers.neural.score import score_model

    start = time.perf_counter()
    try:
        data = load_cached(settings, roots)
        scored = best_weights(model, checkpoint_dir)
        device = str(next(scored.parameters()).device)
        scores = score_model(
            scored, arch, data, settings, preprocessing=dict(preprocessing), device=device
        )
    except NeuralFitError:
        raise
    except ConvnasError as exc:
        raise NeuralFitError(str(exc)) from None
    except Exception as exc:  # the fit's own bug or a numerical failure: named, never silent
        raise NeuralFitError(f"{type(exc).__name__}: {_first_line(exc)}") from None
    objective = scores.objective
    if objective is None or not math.isfinite(objective):
        raise NeuralFitError(
            f"no finite fit for region {settings.region or '(default)'} (got {objective}); "
            "the data's ceiling may be too low to normalise by"
        )
    seconds = round(time.perf_counter() - start, 3)
    table = scores.to_json()
    return {FIT_KEY: float(objective), TABLE_KEY: table, SECONDS_KEY: seconds}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]

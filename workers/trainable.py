"""The Ray Tune function trainable: one trial = one frozen arch trained on one dataset.

The trial's ``config`` is plain data, so it travels through Ray and Optuna unchanged::

    {
      "arch": {...},                # a frozen Arch as a dict (Arch.to_dict()) or its JSON text
      "dataset": "digits",          # a dataset reference (string or mapping), see workers.data
      "training": {"epochs": 2},    # optional TrainConfig overrides of arch.training
      "checkpoint": false,          # optional: report a Tune checkpoint whenever val_acc improves
      "neural": {...},              # optional: space.neural.NeuralFitSettings (issue 14)
    }

Every epoch is reported with ``ray.tune.report`` (so ASHA can stop the trial): the loop's epoch
metrics (``epoch``, ``train_loss``, ``val_loss``, ``val_acc``, ``val_acc_per_step``,
``images_per_sec``, ``elapsed``, ...) plus ``status`` (``running`` until the last epoch, which
says ``completed``), ``final``, ``arch_hash``, ``params``, ``device`` and ``preprocessing``
(the input pipeline, ``workers.data.Dataset.preprocessing()``). A run that ends
otherwise (``diverged``, ``out_of_memory``, ``failed``, or bad input) adds one last report with
that ``status``, its ``reason``, ``final: true`` and ``val_acc`` = the best reached (0.0 if none),
so a driver always learns why a trial ended. Nothing here imports ``search`` or ``api``.

With ``neural`` settings, the trained model (its best epoch's weights) is fit to the neural data
after the last epoch (:mod:`workers.neural_trial`) and the final report adds ``neural_fit``,
``neural`` and ``neural_seconds``; a fit that fails fails the trial (``neural fit: ...``).
Every earlier report carries ``neural_fit: null``: Ray Tune checks that each result holds the
searcher's metrics, and neural_fit may be one.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from space.arch import Arch, arch_from_data
from space.datasets import DatasetBase
from space.errors import ConvnasError
from space.status import RunStatus, TrialStatus
from workers.config import TrainConfig
from workers.data import load_dataset, parse_dataset_ref
from workers.errors import WorkerInputError
from workers.loop import Metrics, TrainResult, TrainRun
from workers.neural_trial import FIT_KEY, NeuralFitError, neural_settings, score_trial

Report = Callable[[Metrics, str | None], None]  # (metrics, checkpoint folder or None)


def parse_trial_config(config: Mapping[str, Any]) -> tuple[Arch, TrainConfig, DatasetBase, bool]:
    """Validate a trial's plain-data config; errors name the field and value."""
    unknown = sorted(set(config) - {"arch", "dataset", "training", "checkpoint", "neural"})
    if unknown:
        raise WorkerInputError(
            f"config.{unknown[0]}", "unknown trial config key", config[unknown[0]]
        )
    if "arch" not in config:
        raise WorkerInputError("config.arch", "a frozen arch is required")
    if "dataset" not in config:
        raise WorkerInputError("config.dataset", "a dataset reference is required")
    data = config["arch"]
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise WorkerInputError("config.arch", f"not valid JSON: {exc}") from None
    arch = arch_from_data(data, "config.arch")
    overrides = config.get("training") or {}
    if not isinstance(overrides, Mapping):
        raise WorkerInputError("config.training", "must be a mapping", overrides)
    cfg = TrainConfig.for_arch(arch, overrides)
    ref = parse_dataset_ref(config["dataset"], "config.dataset")
    return arch, cfg, ref, bool(config.get("checkpoint", False))


def _final_report(result: TrainResult | None, status: RunStatus, reason: str) -> Metrics:
    best = result.best_val_acc if result is not None else None
    last = result.final if result is not None else None
    return {
        "status": status,
        "reason": reason,
        "final": True,
        "epoch": last["epoch"] if last else 0,
        "val_acc": best if best is not None else 0.0,
        "best_val_acc": best,
        "train_seconds": result.train_seconds if result is not None else 0.0,
    }


def run_trial(config: Mapping[str, Any], report: Report) -> TrainResult | None:
    """Validate ``config``, train, and ``report`` every epoch and the final status.

    Returns the result, or None when the input was invalid (reported as ``failed``).
    """
    try:
        arch, cfg, ref, keep = parse_trial_config(config)
        neural = neural_settings(config)
        data = load_dataset(ref, arch.input.size, arch.input.channels, arch.classes, cfg.seed)
    except ConvnasError as exc:
        failed = _final_report(None, RunStatus.FAILED, f"invalid trial input: {exc}")
        report({**failed, FIT_KEY: None} if "neural" in config else failed, None)
        return None
    with tempfile.TemporaryDirectory(prefix="convnas-ckpt-") as folder:
        if keep:
            cfg = cfg.model_copy(update={"checkpoint_dir": folder})
        try:
            run = TrainRun(arch, data, cfg)
        except Exception as exc:  # an arch that cannot be built is this trial's failure
            reason = f"{type(exc).__name__}: {exc}"
            report(_final_report(None, RunStatus.FAILED, reason), None)
            return None
        extra = {
            "arch_hash": arch.arch_hash,
            "params": run.result.params,
            "device": run.result.device,
            # The driver stores it with the trial (export needs it to make weights usable).
            "preprocessing": run.result.preprocessing,
        }
        if neural is not None:
            extra[FIT_KEY] = None
        fit_failed: str | None = None
        for metrics in run:
            final = metrics["status"] != TrialStatus.RUNNING
            row = {**metrics, **extra, "final": final}
            if final:
                row["train_seconds"] = round(metrics["elapsed"], 3)
                if neural is not None:
                    try:
                        best = folder if keep else None
                        row |= score_trial(run.model, arch, neural, run.result.preprocessing, best)
                    except NeuralFitError as exc:  # the epoch is kept; the trial fails below
                        fit_failed = str(exc)
                        row |= {"status": TrialStatus.RUNNING, "final": False}
            report(row, folder if keep and metrics["improved"] else None)
        result = run.result
        if fit_failed is not None:
            result.status, result.reason = RunStatus.FAILED, fit_failed
        if result.status is not None and result.status != RunStatus.COMPLETED:
            report({**_final_report(result, result.status, result.reason or ""), **extra}, None)
        return result


def _tune_report(metrics: Metrics, checkpoint_dir: str | None) -> None:
    from ray import tune

    checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
    tune.report(metrics, checkpoint=checkpoint)


def train_arch(config: dict[str, Any]) -> None:
    """The function trainable for ``ray.tune.Tuner``; :func:`with_trial_resources` wraps it."""
    run_trial(config, _tune_report)


def trial_resources(cpus: float = 1.0, gpus: float | None = None) -> dict[str, float]:
    """Resources of one trial: ``gpus`` (fractional allowed) when given, else half a GPU when the
    Ray cluster has GPUs (two trials share one), else CPU only."""
    if gpus is None:
        import ray

        ray_api: Any = ray  # ray's stubs leave cluster_resources untyped
        has_gpu = ray_api.is_initialized() and ray_api.cluster_resources().get("GPU", 0) > 0
        gpus = 0.5 if has_gpu else 0.0
    return {"cpu": cpus, "gpu": gpus} if gpus > 0 else {"cpu": cpus}


def with_trial_resources(cpus: float = 1.0, gpus: float | None = None) -> Any:
    """:func:`train_arch` wrapped with its resource request, ready for ``tune.Tuner``."""
    from ray import tune

    return tune.with_resources(train_arch, trial_resources(cpus, gpus))

"""The Ray Tune function trainable: one trial = one frozen arch trained on one dataset.

The trial's ``config`` is plain data, so it travels through Ray and Optuna unchanged::

    {
      "arch": {...},                # a frozen Arch as a dict (Arch.to_dict()) or its JSON text
      "dataset": "digits",          # a dataset reference (string or mapping), see workers.data
      "training": {"epochs": 2},    # optional TrainConfig overrides of arch.training
      "checkpoint": false,          # optional: report a Tune checkpoint whenever val_acc improves
      "neural": {...},              # optional: space.spec.neural.NeuralFitSettings (issue 14)
      "resources": {...},           # optional: workers.config.TrialGpu (GPU share use)
      "data_roots": ["/data"],      # optional: confine every file opened to these folders
    }

The device is the one Ray assigned: inside a Ray worker with ``training.device: auto``, a trial
given a GPU share trains on CUDA (Ray set ``CUDA_VISIBLE_DEVICES`` to that GPU, so it is
``cuda:0`` here), and a trial given none trains on CPU even on a GPU node (Ray leaves
``CUDA_VISIBLE_DEVICES`` alone for it, so every GPU would be visible). A share below one caps
PyTorch's allocator at it (``resources.limit_memory``), so a trial that outgrows its share
runs out of memory alone: it reports ``status: out_of_memory`` and a ``reason`` starting
``out of memory:``.

Every epoch is reported with ``ray.tune.report`` (so ASHA can stop the trial): the loop's epoch
metrics (``epoch``, ``train_loss``, ``val_loss``, ``val_acc``, ``val_acc_per_step``,
``images_per_sec``, ``elapsed``, ...) plus ``status`` (``running`` until the last epoch, which
says ``completed``), ``final``, ``arch_hash``, ``params``, ``device`` and ``preprocessing``
(the input pipeline, ``workers.data.Dataset.preprocessing()``), and for packing
``gpu_share`` (the GPU fraction Ray gave the trial, 0 without one), ``memory_estimate`` (the
analytic estimate in bytes, :mod:`space.packing`) and ``peak_memory``
(``torch.cuda.max_memory_allocated`` so far; null on CPU) and ``peak_reserved``
(``torch.cuda.max_memory_reserved``: what the allocator cap limits). A run that ends
otherwise (``diverged``, ``out_of_memory``, ``failed``, or bad input) adds one last report with
that ``status``, its ``reason``, ``final: true`` and ``val_acc`` = the best reached (0.0 if none),
so a driver always learns why a trial ended. Nothing here imports ``search`` or ``api``.

With ``checkpoint: true`` every epoch's report carries a checkpoint: the best epoch's weights
(``weights.pt``, what export reads) and the run's state after that epoch (:mod:`workers.resume`).
When Ray Tune runs the trial again after its worker or node died (``search.retries``), it hands
back the last one and training continues with the next epoch, on the same data order.

With ``neural`` settings, the trained model (its best epoch's weights) is fit to the neural data
after the last epoch (:mod:`workers.neural_trial`) and the final report adds ``neural_fit``,
``neural`` and ``neural_seconds``; a fit that fails fails the trial (``neural fit: ...``).

A search submitted to a server carries the server's ``data_roots``: every file (npz, each image
of an imagefolder, the neural data) is resolved inside them at the moment it is opened
(:mod:`space.paths`), so a file swapped for a symlink after the submit check is refused.
Every earlier report carries ``neural_fit: null``: Ray Tune checks that each result holds the
searcher's metrics, and neural_fit may be one.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from space.arch import Arch, arch_from_data
from space.errors import ConvnasError
from space.paths import resolve_roots
from space.spec import DatasetBase
from space.status import RunStatus, TrialStatus
from workers.config import TrainConfig, TrialGpu, memory_estimate, trial_gpu_from_data
from workers.data import load_dataset, parse_dataset_ref
from workers.errors import WorkerInputError
from workers.loop import Metrics, TrainResult, TrainRun
from workers.neural_trial import FIT_KEY, NeuralFitError, neural_settings, score_trial
from workers.resume import ResumeState, load_resume

log = logging.getLogger(__name__)

Report = Callable[[Metrics, str | None], None]  # (metrics, checkpoint folder or None)
CONFIG_KEYS = frozenset(
    {"arch", "dataset", "training", "checkpoint", "neural", "resources", "data_roots"}
)


def parse_trial_config(config: Mapping[str, Any]) -> tuple[Arch, TrainConfig, DatasetBase, bool]:
    """Validate a trial's plain-data config; errors name the field and value."""
    unknown = sorted(set(config) - CONFIG_KEYS)
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


def trial_roots(config: Mapping[str, Any]) -> list[Path] | None:
    """The data roots the trial's files are confined to (None: a local search, unconfined),
    resolved on this machine as the path policy compares them."""
    roots = config.get("data_roots")
    if roots is None:
        return None
    if not isinstance(roots, list | tuple) or not all(
        isinstance(root, str) and Path(root).is_absolute() for root in roots
    ):
        raise WorkerInputError("config.data_roots", "must be a list of absolute folders", roots)
    return resolve_roots(roots)


def ray_gpu_share() -> float | None:
    """The GPU fraction Ray assigned to this worker (0.0 for none); None outside a Ray worker."""
    try:
        import ray

        if not ray.is_initialized():
            return None
        context: Any = ray.get_runtime_context()
        return float(context.get_assigned_resources().get("GPU") or 0.0)
    except Exception:  # the driver process (no assignment), or Ray not installed
        return None


def place_on_device(cfg: TrainConfig, gpu: TrialGpu, share: float | None) -> TrainConfig:
    """``cfg`` with the device Ray assigned (``share``; None outside Ray) and, on a shared GPU,
    the allocator cap."""
    import torch

    cuda = torch.cuda.is_available()
    if share is not None and cfg.device == "auto":
        if share > 0 and not cuda:
            log.warning("Ray gave this trial %g GPU but torch sees no CUDA: training on CPU", share)
        cfg = cfg.model_copy(update={"device": "cuda" if share > 0 and cuda else "cpu"})
    if cuda and cfg.device.startswith("cuda") and share is not None:
        total = torch.cuda.get_device_properties(torch.device(cfg.device)).total_memory
        fraction = gpu.memory_fraction(share, total)
        if fraction is not None and cfg.memory_fraction is None:
            cfg = cfg.model_copy(update={"memory_fraction": round(fraction, 4)})
    return cfg


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


def run_trial(
    config: Mapping[str, Any], report: Report, restored: str | None = None
) -> TrainResult | None:
    """Validate ``config``, train, and ``report`` every epoch and the final status.

    ``restored``: the folder of the trial's last checkpoint when Ray Tune runs it again after
    its worker died (``search.retries``): training continues after that checkpoint's epoch.
    Returns the result, or None when the input was invalid (reported as ``failed``).
    """
    try:
        arch, cfg, ref, keep = parse_trial_config(config)
        gpu = trial_gpu_from_data(config.get("resources"))
        neural = neural_settings(config)
        roots = trial_roots(config)
        data = load_dataset(
            ref, arch.input.size, arch.input.channels, arch.classes, cfg.seed, roots
        )
    except ConvnasError as exc:
        failed = _final_report(None, RunStatus.FAILED, f"invalid trial input: {exc}")
        report({**failed, FIT_KEY: None} if "neural" in config else failed, None)
        return None
    with tempfile.TemporaryDirectory(prefix="convnas-ckpt-") as folder:
        if keep:
            cfg = cfg.model_copy(update={"checkpoint_dir": folder})
        resume = _resume_from(restored, folder) if keep else None
        try:
            share = ray_gpu_share()
            cfg = place_on_device(cfg, gpu, share)
            run = TrainRun(arch, data, cfg, gpu_share=share, resume=resume)
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
            # packing: what the trial got, what the cost model said, what it really took
            "gpu_share": run.result.gpu_share,
            "memory_estimate": memory_estimate(arch, cfg, cuda=True).total,  # as packing sizes it
            "peak_memory": None,
            "peak_reserved": None,
        }
        if neural is not None:
            extra[FIT_KEY] = None
        fit_failed: str | None = None
        for metrics in run:
            final = metrics["status"] != TrialStatus.RUNNING
            row = {**extra, **metrics, "final": final}
            if final:
                row["train_seconds"] = round(metrics["elapsed"], 3)
                if neural is not None:
                    try:
                        best = folder if keep else None
                        row |= score_trial(
                            run.model, arch, neural, run.result.preprocessing, best, roots
                        )
                    except NeuralFitError as exc:  # the epoch is kept; the trial fails below
                        fit_failed = str(exc)
                        row |= {"status": TrialStatus.RUNNING, "final": False}
            report(row, folder if keep else None)  # the best weights and where it stands
        result = run.result
        if fit_failed is not None:
            result.status, result.reason = RunStatus.FAILED, fit_failed
        if result.status is not None and result.status != RunStatus.COMPLETED:
            closing = _final_report(result, result.status, result.reason or "")
            peaks = {"peak_memory": result.peak_memory, "peak_reserved": result.peak_reserved}
            report({**closing, **extra, **peaks}, None)
        return result


def _resume_from(restored: str | None, folder: str) -> ResumeState | None:
    """The state of a restored checkpoint, its files (the best weights too) copied into this
    run's ``folder`` so that the next checkpoint carries them on."""
    if restored is None:
        return None
    shutil.copytree(restored, folder, dirs_exist_ok=True)
    state = load_resume(folder)
    if state is not None:
        log.info("resuming after epoch %d (step %d) from %s", state.epoch, state.step, restored)
    return state


def _tune_report(metrics: Metrics, checkpoint_dir: str | None) -> None:
    from ray import tune

    checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
    tune.report(metrics, checkpoint=checkpoint)


def train_arch(config: dict[str, Any]) -> None:
    """The function trainable for ``ray.tune.Tuner``; :func:`with_trial_resources` wraps it."""
    from ray import tune

    checkpoint = tune.get_checkpoint()  # set when Tune runs the trial again (search.retries)
    if checkpoint is None:
        run_trial(config, _tune_report)
        return
    with checkpoint.as_directory() as restored:
        run_trial(config, _tune_report, restored)


def with_trial_resources(cpus: float = 1.0, gpus: float = 0.0) -> Any:
    """:func:`train_arch` wrapped with an explicit resource request, for a library user's own
    ``tune.Tuner`` (a search's trials get theirs from the spec: search.resources)."""
    from ray import tune

    request = {"cpu": cpus, "gpu": gpus} if gpus > 0 else {"cpu": cpus}
    return tune.with_resources(train_arch, request)

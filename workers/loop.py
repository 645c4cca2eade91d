"""The short-training loop: train one arch on one dataset for a small budget, honestly.

Reads top to bottom like nanoGPT's ``train.py``: pick the device, build the model and optimizer,
then for every epoch shuffle, step, evaluate (accuracy at the readout *and* at every time step),
report. Failures end the run with a status and a reason instead of an exception or a hang:

* ``completed``      the budget was spent;
* ``diverged``       a loss was not finite, or the training loss exploded past a limit;
* ``out_of_memory``  the GPU ran out of memory (``torch.cuda.OutOfMemoryError``, reason
                     ``out of memory: ...``, see :class:`~workers.errors.TrialOutOfMemory`;
                     a CPU allocation failure is ``failed``: the machine, not the trial's share);
* ``failed``         any other exception (its type and message are the reason);
* ``stopped``        the consumer stopped iterating (e.g. Ray Tune's ASHA pruned the trial).

Use :func:`train` with a callback, or iterate a :class:`TrainRun` (each item is one epoch's
metrics) and read ``run.result`` afterwards; the Ray trainable does the latter so that Tune's
own control flow never passes through the loop's error handling.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from space.arch import Arch, load_arch
from space.settings import WorkerSettings, env_name, load_settings
from space.status import RunStatus
from workers.config import TrainConfig
from workers.data import Dataset
from workers.errors import TrainConfigError, TrialOutOfMemory
from workers.resume import ResumeState, atomic_write, save_resume

Metrics = dict[str, Any]
EpochCallback = Callable[[Metrics], None]
StepCallback = Callable[[int, int, float], None]  # (epoch, batch index in epoch, loss)

PREPROCESSING_FILE = "preprocessing.json"

# Fault injection for tests of the out-of-memory path on machines without a GPU: raise
# torch.cuda.OutOfMemoryError at this optimizer step (1 = the first), and only when the run's
# GPU share is below FAULT_OOM_BELOW_SHARE if that is set (a model that needs more than that).
FAULT_OOM_AT_STEP = env_name("fault_oom_at_step")
FAULT_OOM_BELOW_SHARE = env_name("fault_oom_below_share")


class Diverged(Exception):
    """A non-finite loss: the run ends with status ``diverged``."""


@dataclass
class TrainResult:
    """The outcome of one run; ``history`` holds every epoch's metrics."""

    status: RunStatus | None = None  # None while the run is going
    reason: str | None = None
    history: list[Metrics] = field(default_factory=list)
    best_val_acc: float | None = None
    best_epoch: int | None = None
    train_seconds: float = 0.0
    steps: int = 0
    device: str = "cpu"
    threads: int = 0
    params: int = 0
    gpu_share: float = 0.0  # the fraction of a GPU the run had (0 on CPU)
    # torch.cuda.max_memory_allocated over the run (None on CPU): compare with the estimate
    peak_memory: int | None = None
    # torch.cuda.max_memory_reserved (None on CPU): what the per-process cap (memory_fraction)
    # limits, allocator caching and fragmentation included; the packing estimate is checked
    # against this one.
    peak_reserved: int | None = None
    # The dataset's input pipeline (workers.data.Dataset.preprocessing()): needed to use the
    # trained weights on new images.
    preprocessing: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> Metrics | None:
        return self.history[-1] if self.history else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------------
# Device, threads, precision
# ------------------------------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainConfigError("training.device", "CUDA is not available on this machine", name)
    return torch.device(name)


def default_threads() -> int:
    """``$CONVNAS_THREADS`` if set, else the CPUs this process may use (Ray's assignment inside
    a Ray worker), at most 16: intra-op parallelism of small convs stops paying beyond that.
    On a machine shared with other jobs, fewer threads are often faster (no oversubscription).
    """
    threads = load_settings(WorkerSettings).threads
    if threads is not None:
        return threads
    try:
        import ray

        if ray.is_initialized():
            context: Any = ray.get_runtime_context()
            assigned = float(context.get_assigned_resources().get("CPU") or 0)
            if assigned >= 1:
                return min(16, math.floor(assigned))
    except Exception:  # noqa: S110 - outside Ray, or an older Ray: fall back to affinity
        pass
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(16, available or 1))


def autocast_for(device: torch.device, amp: str) -> tuple[Any, torch.dtype | None]:
    """A context factory for mixed precision on CUDA (bf16 where supported, else fp16)."""
    if device.type != "cuda" or amp == "off":
        return contextlib.nullcontext, None
    # Native bf16 only (Ampere and later): emulated bf16 on older GPUs is slower than fp16.
    bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    dtype = torch.bfloat16 if bf16 else torch.float16
    return (lambda: torch.autocast("cuda", dtype=dtype)), dtype


# ------------------------------------------------------------------------------------------------
# Optimizer and learning-rate schedule
# ------------------------------------------------------------------------------------------------


def _cell_weight_decay(model: nn.Module) -> dict[str, float]:
    """Parameter-name prefix -> decay for the layers whose cell sets its own ``weight_decay``:
    the cell's convs and the feedback projections into the layer (in the released code those
    live inside the cell and share its regulariser)."""
    arch = getattr(model, "arch", None)
    if not isinstance(arch, Arch):
        return {}
    decays: dict[str, float] = {}
    for layer in arch.layers:
        decay = getattr(layer.cell, "weight_decay", None)
        if decay is not None:
            decays[f"layers.{layer.name}.cell."] = decay
            decays[f"layers.{layer.name}.feedback."] = decay
    return decays


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # Weight decay on conv/linear kernels only: decaying biases, norm gains and the cells'
    # scalar time constants towards zero only hurts (nanoGPT does the same split). A cell's own
    # weight_decay (searched per cell in the papers) replaces cfg.weight_decay for its kernels.
    cell_decay = _cell_weight_decay(model)
    kernels: list[nn.Parameter] = []
    others: list[nn.Parameter] = []
    per_cell: dict[float, list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.dim() < 2:
            others.append(p)
            continue
        decay = next((d for prefix, d in cell_decay.items() if name.startswith(prefix)), None)
        if decay is None:
            kernels.append(p)
        else:
            per_cell.setdefault(decay, []).append(p)
    groups: list[dict[str, Any]] = [
        {"params": kernels, "weight_decay": cfg.weight_decay},
        {"params": others, "weight_decay": 0.0},
        *({"params": ps, "weight_decay": d} for d, ps in per_cell.items()),
    ]
    groups = [g for g in groups if g["params"]]
    if cfg.optimizer == "sgd":
        nesterov = cfg.nesterov and cfg.momentum > 0
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=nesterov)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def lr_factor(cfg: TrainConfig, progress: float, step: int, warmup_steps: int) -> float:
    """Multiplier of the base lr: linear warmup, then the schedule over ``progress`` in [0, 1]."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if cfg.lr_schedule == "constant":
        return 1.0
    if cfg.lr_schedule == "step":  # x0.1 at half and at three quarters of the budget
        return 0.1 ** sum(progress >= m for m in (0.5, 0.75))
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


# ------------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------------


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Dataset,
    device: torch.device,
    batch_size: int,
    autocast: Any,
    channels_last: bool,
) -> tuple[float, float, list[float]]:
    """Validation loss and accuracy at the readout, and accuracy at every time step."""
    model.eval()
    loss_sum, correct = 0.0, 0
    per_step: torch.Tensor | None = None
    for i in range(0, len(data.y_val), batch_size):
        x = data.batch(data.x_val[i : i + batch_size], device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = data.y_val[i : i + batch_size].to(device)
        with autocast():
            out = model(x)
        loss_sum += float(F.cross_entropy(out.decoded.float(), y, reduction="sum"))
        correct += int((out.decoded.argmax(-1) == y).sum())
        hits = (out.logits.argmax(-1) == y.unsqueeze(0)).sum(dim=1)  # [T]
        per_step = hits if per_step is None else per_step + hits
    n = len(data.y_val)
    assert per_step is not None  # the split guarantees at least one validation example
    if not math.isfinite(loss_sum):
        raise Diverged(f"non-finite validation loss ({loss_sum})")
    return loss_sum / n, correct / n, [round(int(h) / n, 6) for h in per_step]


# ------------------------------------------------------------------------------------------------
# Checkpoints: weights as a plain state_dict (loaded with weights_only=True) next to the arch
# ------------------------------------------------------------------------------------------------


def save_checkpoint(
    folder: str | Path,
    model: nn.Module,
    arch: Arch,
    metrics: Metrics,
    preprocessing: dict[str, Any] | None = None,
) -> Path:
    """Write ``weights.pt``, ``arch.yaml``, ``metrics.json`` (and ``preprocessing.json``: how
    to prepare inputs for these weights, see ``workers.data.preprocess``) into ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write(out / "weights.pt", lambda p: torch.save(state, p))
    atomic_write(out / "arch.yaml", lambda p: p.write_text(arch.to_yaml()))
    text = json.dumps(metrics, indent=2, default=str) + "\n"
    atomic_write(out / "metrics.json", lambda p: p.write_text(text))
    if preprocessing:
        prep = json.dumps(preprocessing, indent=2) + "\n"
        atomic_write(out / PREPROCESSING_FILE, lambda p: p.write_text(prep))
    return out


def load_checkpoint(folder: str | Path) -> tuple[Arch, nn.Module]:
    """Rebuild the model saved by :func:`save_checkpoint` (no pickles: ``weights_only=True``)."""
    from space.nn import build_model

    folder = Path(folder)
    arch = load_arch(folder / "arch.yaml")
    model = build_model(arch)
    state = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return arch, model


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------


class TrainRun:
    """One training run. Iterate it for per-epoch metrics; ``result`` holds the outcome.

    The model is built in ``__init__`` so that an arch that cannot be built fails before any
    training, as an exception to the caller rather than as a status.
    """

    def __init__(
        self,
        arch: Arch,
        data: Dataset,
        cfg: TrainConfig,
        *,
        model: nn.Module | None = None,
        on_step: StepCallback | None = None,
        gpu_share: float | None = None,
        resume: ResumeState | None = None,
    ) -> None:
        """``gpu_share``: the fraction of the GPU this run was given (Ray's assignment; by
        default the whole device on CUDA, 0 on CPU). ``resume``: continue after its epochs
        (:mod:`workers.resume`; a retried trial's last checkpoint)."""
        if data.classes != arch.classes:
            raise TrainConfigError("classes", f"the dataset has {data.classes}", arch.classes)
        expected = (arch.input.channels, arch.input.size, arch.input.size)
        if data.input_shape != expected:
            raise TrainConfigError(
                "input", f"the dataset's images are {data.input_shape}", expected
            )
        self.arch, self.data, self.cfg, self.on_step = arch, data, cfg, on_step
        self.resume = resume
        self.device = resolve_device(cfg.device)
        self.threads = cfg.threads or default_threads()
        if self.device.type == "cpu":
            torch.set_num_threads(self.threads)
        if model is None:
            from space.nn import build_model

            model = build_model(arch, seed=cfg.seed)
        self.model = model
        self.result = TrainResult(
            device=str(self.device),
            threads=self.threads if self.device.type == "cpu" else 0,
            params=sum(p.numel() for p in model.parameters()),
            preprocessing=data.preprocessing(),
        )
        # Ray's assignment as given (even if this process cannot use CUDA: device says so);
        # outside Ray a CUDA run has the whole device.
        default_share = 1.0 if self.device.type == "cuda" else 0.0
        self.result.gpu_share = gpu_share if gpu_share is not None else default_share
        self.fault_oom_step = _fault_oom_step(self.result.gpu_share)

    def __iter__(self) -> Iterator[Metrics]:
        # A resumed run's clock goes on from its saved time (budgets and schedules read it).
        start = time.perf_counter() - (self.resume.elapsed if self.resume else 0.0)
        res = self.result
        try:
            yield from self._epochs(start)
            res.status = RunStatus.COMPLETED
        except Diverged as exc:
            res.status, res.reason = RunStatus.DIVERGED, str(exc)
        except GeneratorExit:
            res.status, res.reason = RunStatus.STOPPED, "stopped by the caller"
            raise
        except Exception as exc:
            oom = self._out_of_memory(exc)
            if oom is not None:
                res.status, res.reason = RunStatus.OUT_OF_MEMORY, str(oom)
            else:
                reason = f"{type(exc).__name__}: {_first_line(exc)}"
                res.status, res.reason = RunStatus.FAILED, reason
        finally:
            res.train_seconds = round(time.perf_counter() - start, 3)
            if self.device.type == "cuda":
                res.peak_memory = int(torch.cuda.max_memory_allocated(self.device))
                res.peak_reserved = int(torch.cuda.max_memory_reserved(self.device))
                if res.status == RunStatus.OUT_OF_MEMORY:
                    # free what this run holds for whatever the process does next
                    self.model.to("cpu")
                    torch.cuda.empty_cache()

    def _out_of_memory(self, exc: BaseException) -> TrialOutOfMemory | None:
        """``exc`` as the trial's out-of-memory outcome, or None if it is another failure.

        torch.cuda.OutOfMemoryError is the allocator's; a few CUDA libraries report the same
        condition as a plain RuntimeError ("CUDA error: out of memory"), which counts only on a
        CUDA device. A CPU RuntimeError ("DefaultCPUAllocator: can't allocate memory") does not:
        a bigger GPU share would not help it.
        """
        share = self.result.gpu_share or None
        if isinstance(exc, TrialOutOfMemory):
            return exc
        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return TrialOutOfMemory(_first_line(exc), share=share)
        text = str(exc)
        cuda_oom = "CUDA out of memory" in text or "CUDA error: out of memory" in text
        if self.device.type == "cuda" and (cuda_oom or "_ALLOC_FAILED" in text):
            return TrialOutOfMemory(_first_line(exc), share=share)
        return None

    def _restore(
        self, state: ResumeState, opt: Any, scaler: Any, shuffle: torch.Generator
    ) -> tuple[int, int]:
        """Load ``state`` into the run; (steps done, first epoch to train)."""
        self.model.load_state_dict(state.model)
        opt.load_state_dict(state.optimizer)
        scaler.load_state_dict(state.scaler)
        shuffle.set_state(state.shuffle)
        res = self.result
        res.best_val_acc, res.best_epoch = state.best_val_acc, state.best_epoch
        res.history, res.steps = list(state.history), state.step
        return state.step, state.epoch + 1

    def _checkpoint(self, metrics: Metrics, training: tuple[Any, ...], elapsed: float) -> None:
        """The best epoch's weights (for export) when ``metrics`` improved, and where the run
        stands (to resume it) after every epoch."""
        folder, res = self.cfg.checkpoint_dir, self.result
        assert folder is not None
        if metrics["improved"]:
            save_checkpoint(folder, self.model, self.arch, metrics, res.preprocessing)
        opt, scaler, shuffle = training
        state = ResumeState(
            epoch=metrics["epoch"],
            step=metrics["steps"],
            elapsed=elapsed,
            best_val_acc=res.best_val_acc,
            best_epoch=res.best_epoch,
            model=self.model.state_dict(),
            optimizer=opt.state_dict(),
            scaler=scaler.state_dict(),
            shuffle=shuffle.get_state(),
            history=res.history,
        )
        save_resume(folder, state)

    def _epochs(self, start: float) -> Iterator[Metrics]:
        cfg, data, model, device, res = self.cfg, self.data, self.model, self.device, self.result
        channels_last = cfg.channels_last and device.type == "cuda"
        if device.type == "cuda":
            # always set: the cap is per process, and Tune may reuse this one for a trial
            # with another share (or a whole GPU: 1.0)
            torch.cuda.set_per_process_memory_fraction(cfg.memory_fraction or 1.0, device)
            torch.cuda.reset_peak_memory_stats(device)
        model.to(device)
        if channels_last:
            channels_last_module: Any = model  # nn.Module.to's stubs lack memory_format
            channels_last_module.to(memory_format=torch.channels_last)
        if cfg.compile:
            model.compile()
        autocast, amp_dtype = autocast_for(device, cfg.amp)
        # fp16 needs loss scaling; bf16 has fp32's range and does not.
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
        opt = make_optimizer(model, cfg)

        n = len(data.y_train)
        steps_per_epoch = math.ceil(n / cfg.batch_size)
        total_steps = cfg.epochs * steps_per_epoch
        if cfg.max_steps is not None:
            total_steps = min(total_steps, cfg.max_steps)
        warmup_steps = round(cfg.warmup_epochs * steps_per_epoch)
        eval_bs = cfg.eval_batch
        shuffle = torch.Generator().manual_seed(cfg.seed)

        step, first, out_of_budget = 0, 1, False
        if self.resume is not None:
            step, first = self._restore(self.resume, opt, scaler, shuffle)
        for epoch in range(first, cfg.epochs + 1):
            model.train()
            t_epoch = time.perf_counter()
            loss_sum, correct, seen = 0.0, 0, 0
            lr = cfg.lr
            order = torch.randperm(n, generator=shuffle)
            for b, i in enumerate(range(0, n, cfg.batch_size)):
                elapsed = time.perf_counter() - start
                if step >= total_steps or (cfg.max_seconds and elapsed >= cfg.max_seconds):
                    out_of_budget = True
                    break
                idx = order[i : i + cfg.batch_size]
                x = data.batch(data.x_train[idx], device)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                y = data.y_train[idx].to(device, non_blocking=True)

                # the schedule follows whichever budget (steps or seconds) runs out first
                progress = step / total_steps
                if cfg.max_seconds:
                    progress = max(progress, elapsed / cfg.max_seconds)
                lr = cfg.lr * lr_factor(cfg, progress, step, warmup_steps)
                for group in opt.param_groups:
                    group["lr"] = lr

                if step + 1 == self.fault_oom_step:
                    raise torch.cuda.OutOfMemoryError(
                        f"CUDA out of memory (injected by {FAULT_OOM_AT_STEP} at step {step + 1})"
                    )
                with autocast():
                    out = model(x)
                loss = F.cross_entropy(out.decoded.float(), y, label_smoothing=cfg.label_smoothing)
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value) or loss_value > cfg.diverge_loss:
                    what = "non-finite" if not math.isfinite(loss_value) else "exploding"
                    raise Diverged(
                        f"{what} training loss ({loss_value:.4g}; limit diverge_loss "
                        f"{cfg.diverge_loss:g}) at epoch {epoch}, step {step + 1} (lr {lr:.3g})"
                    )
                opt.zero_grad(set_to_none=True)
                torch.autograd.backward(scaler.scale(loss))
                if cfg.grad_clip is not None:
                    scaler.unscale_(opt)
                    _clip_gradients(model, cfg)
                scaler.step(opt)
                scaler.update()

                step += 1
                res.steps = step  # kept current so a run that ends mid-epoch reports its steps
                loss_sum += loss_value * len(idx)
                correct += int((out.decoded.detach().argmax(-1) == y).sum())
                seen += len(idx)
                if self.on_step is not None:
                    self.on_step(epoch, b, loss_value)
            if seen == 0:
                break  # the budget ended exactly at an epoch boundary: nothing new to report
            if device.type == "cuda":
                torch.cuda.synchronize()
            train_time = time.perf_counter() - t_epoch
            val_loss, val_acc, per_step = evaluate(
                model, data, device, eval_bs, autocast, channels_last
            )
            res.steps = step
            improved = res.best_val_acc is None or val_acc > res.best_val_acc
            if improved:
                res.best_val_acc, res.best_epoch = val_acc, epoch
            last = out_of_budget or epoch == cfg.epochs or step >= total_steps
            if cfg.max_seconds and time.perf_counter() - start >= cfg.max_seconds:
                last = True
            metrics: Metrics = {
                "epoch": epoch,
                "steps": step,
                "train_loss": loss_sum / seen,
                "train_acc": correct / seen,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "val_acc_per_step": per_step,
                "best_val_acc": res.best_val_acc,
                "improved": improved,
                "lr": lr,
                "images_per_sec": seen / train_time if train_time > 0 else 0.0,
                "elapsed": time.perf_counter() - start,
                "peak_memory": (
                    int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
                ),
                "peak_reserved": (
                    int(torch.cuda.max_memory_reserved(device)) if device.type == "cuda" else None
                ),
                # the trial's status while epochs remain (Tune reports it), the run's at the end
                "status": RunStatus.COMPLETED if last else RunStatus.RUNNING,
            }
            res.history.append(metrics)
            if cfg.checkpoint_dir:
                self._checkpoint(metrics, (opt, scaler, shuffle), time.perf_counter() - start)
            yield metrics
            if last:
                break


def _clip_gradients(model: nn.Module, cfg: TrainConfig) -> None:
    assert cfg.grad_clip is not None
    if cfg.grad_clip_mode == "value":
        nn.utils.clip_grad_value_(model.parameters(), cfg.grad_clip)
    else:
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)


def _fault_oom_step(share: float) -> int | None:
    """The step at which to inject an out-of-memory error (tests only; see FAULT_OOM_AT_STEP)."""
    settings = load_settings(WorkerSettings)
    below = settings.fault_oom_below_share
    if below is not None and share >= below:
        return None
    return settings.fault_oom_at_step


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]


def train(
    arch: Arch,
    data: Dataset,
    cfg: TrainConfig,
    callback: EpochCallback | None = None,
    *,
    model: nn.Module | None = None,
    on_step: StepCallback | None = None,
) -> TrainResult:
    """Train ``arch`` on ``data``; ``callback`` gets every epoch's metrics."""
    run = TrainRun(arch, data, cfg, model=model, on_step=on_step)
    for metrics in run:
        if callback is not None:
            callback(metrics)
    return run.result

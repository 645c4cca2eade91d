"""``TrainConfig``: the arch's :class:`~space.arch.Training` hyperparameters plus run settings
(budget, seed, device, threads, checkpoint folder)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from space.arch import Arch, Training
from space.cost import cost
from space.errors import SpecError
from space.packing import DEFAULT_GPU_OVERHEAD, MemoryEstimate, estimate_memory
from space.validation import errors_from_validation

# The evaluation batch when none is set: at least this large (no graph is kept, so bigger
# batches are cheap and evaluation is faster).
MIN_EVAL_BATCH = 256


class TrainConfig(Training):
    """Everything the loop needs besides the arch and the data.

    The budget is ``epochs``, optionally cut short by ``max_steps`` (optimizer steps) and/or
    ``max_seconds`` (wall clock since the start, evaluation included); whichever ends first wins,
    and the lr schedule follows the nearest of them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_steps: int | None = Field(default=None, ge=1)
    max_seconds: float | None = Field(default=None, gt=0.0)
    seed: int = Field(default=0, ge=0)
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    threads: int | None = Field(default=None, ge=1, le=512)
    amp: Literal["auto", "off"] = "auto"
    channels_last: bool = True
    eval_batch_size: int | None = Field(default=None, ge=1)
    checkpoint_dir: str | None = None
    memory_fraction: float | None = Field(default=None, gt=0.0, le=1.0)
    """On CUDA: cap PyTorch's allocator at this fraction of the device's memory
    (``torch.cuda.set_per_process_memory_fraction``), e.g. the GPU share Ray gave the trial."""
    compile: bool = False
    """``torch.compile`` the model before training (opt-in: the first steps pay for compiling)."""
    diverge_loss: float = Field(default=1000.0, gt=0.0)
    """A training loss above this (cross-entropy: about ln(classes) at chance) or not finite
    ends the run as ``diverged``: an exploded run can keep finite but absurd losses forever."""

    @property
    def eval_batch(self) -> int:
        return self.eval_batch_size or max(self.batch_size, MIN_EVAL_BATCH)

    @classmethod
    def for_arch(cls, arch: Arch, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
        """The arch's own training hyperparameters (or the defaults), then ``overrides``."""
        base = arch.training.model_dump() if arch.training is not None else {}
        return train_config_from_data({**base, **(overrides or {})})


def train_config_from_data(data: Any, source: str = "training") -> TrainConfig:
    """Validate plain data; problems are a :class:`SpecError` with paths like ``training.lr``."""
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise SpecError(errors_from_validation(exc, prefix=(source,))) from None


def memory_estimate(arch: Arch, cfg: TrainConfig, *, cuda: bool = True) -> MemoryEstimate:
    """The analytic peak memory of training ``arch`` with ``cfg`` (:mod:`space.packing`);
    ``cuda``: as on a GPU (mixed precision when ``cfg.amp`` allows it)."""
    return estimate_memory(
        cost(arch),
        batch_size=cfg.batch_size,
        eval_batch_size=cfg.eval_batch,
        optimizer=cfg.optimizer,
        momentum=cfg.momentum,
        amp=cuda and cfg.amp != "off",
    )


class TrialGpu(BaseModel):
    """A trial config's ``resources`` block: how the trial uses the GPU share Ray gave it.

    The driver sets it from the spec's ``search.resources``; ``gpu_share`` is a request the
    driver's resource function reads (an out-of-memory retry asks for twice the share), the
    trainable itself reads the share Ray actually assigned.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    gpu_share: float | None = Field(default=None, gt=0.0, le=1.0)
    limit_memory: bool = True
    gpu_overhead: int = Field(default=DEFAULT_GPU_OVERHEAD, ge=0)

    def memory_fraction(self, share: float, device_memory: int) -> float | None:
        """The allocator cap for a trial with ``share`` of a device of ``device_memory`` bytes:
        the share less the process overhead (CUDA context, outside the allocator), never
        below half the share; None when not capped (whole GPU, or limit_memory off)."""
        if not self.limit_memory or share >= 1.0 or share <= 0.0:
            return None
        fraction = share - self.gpu_overhead / device_memory
        return max(fraction, share / 2)


def trial_gpu_from_data(data: Any, source: str = "config.resources") -> TrialGpu:
    """Validate a trial config's ``resources`` block (errors name ``config.resources.*``)."""
    try:
        return TrialGpu.model_validate(data or {})
    except ValidationError as exc:
        raise SpecError(errors_from_validation(exc, prefix=tuple(source.split(".")))) from None

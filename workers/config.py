"""``TrainConfig``: the arch's :class:`~space.arch.Training` hyperparameters plus run settings
(budget, seed, device, threads, checkpoint folder)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from space.arch import Arch, Training
from space.errors import SpecError, errors_from_validation


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
    compile: bool = False
    diverge_loss: float = Field(default=1000.0, gt=0.0)
    """A training loss above this (cross-entropy: about ln(classes) at chance) or not finite
    ends the run as ``diverged``: an exploded run can keep finite but absurd losses forever."""

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

"""How to search a space: objectives, constraints (with amounts like ``200k``, ``2GiB``) and
the ``search:`` block (trials, time budget, concurrency, sampler, scheduler, seed, resources)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from pydantic import BeforeValidator, Field, Strict, field_validator, model_validator

from space import arch as A
from space import trial_fields
from space.packing import DEFAULT_GPU_OVERHEAD
from space.spec.base import SpaceNode

# Seeds go to Python's, NumPy's and Optuna's generators; NumPy takes at most 32 bits.
MAX_SEED = 2**32 - 1
# Trial counts are stored in 32-bit integer columns (PostgreSQL refuses more; SQLite would not).
MAX_TRIALS = 2**31 - 1

# The metrics an objective may name, from the one table of trial fields (neural_fit: the
# ceiling-normalised fit of the trained model to recorded neurons of one region, computed after
# training on the spec's ``neural:`` data set). mypy sees a str; pydantic the exact names.
if TYPE_CHECKING:
    Metric = str
else:
    Metric = Literal[trial_fields.OBJECTIVES]
DEFAULT_GOALS = trial_fields.DEFAULT_GOALS
_GOAL_TEXT = ", ".join(
    f"{goal} for {' and '.join(m for m, g in DEFAULT_GOALS.items() if g == goal)}"
    for goal in ("max", "min")
)


class Objective(SpaceNode):
    metric: Metric
    goal: Literal["max", "min"] | None = Field(
        default=None,
        description=f"Default: {_GOAL_TEXT}",
    )
    region: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="neural_fit only: the recorded region whose fit is the objective (e.g. IT); "
        "default: the neural block's region",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"metric": data} if isinstance(data, str) else data

    @property
    def direction(self) -> Literal["max", "min"]:
        return self.goal or trial_fields.objective(self.metric).goal or "max"


class NeuralRegion(NamedTuple):
    """The region a neural_fit objective is scored on, and the spec field that names it."""

    name: str | None
    field: str


def neural_region(objectives: Sequence[Objective], block_region: str | None) -> NeuralRegion:
    """The rule for a neural fit's region: the neural_fit objective's, else the neural block's
    (:meth:`space.spec.SearchSpec.neural_region`; a stored spec's charts call it directly)."""
    for i, objective in enumerate(objectives):
        if objective.metric == "neural_fit" and objective.region:
            return NeuralRegion(objective.region, f"objectives.{i}.region")
    return NeuralRegion(block_region, "neural.region")


def _objective_shorthand(value: Any) -> Any:
    return {"metric": value} if isinstance(value, str) else value


# ``objectives: [val_acc, {metric: params, goal: min}]``: a metric name alone is accepted.
ObjectiveItem = Annotated[
    Objective,
    BeforeValidator(_objective_shorthand, json_schema_input_type=Metric | Objective),
]

_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_amount(value: Any) -> Any:
    """``200k``, ``1.5M``, ``3G``, ``512MiB``, ``1e6`` -> int; other values are left for
    pydantic to reject (a fractional number, text without a known unit)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)  # YAML reads 1e6 as a float
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", value)
    if not match:
        return value
    unit = match.group(2).lower().removesuffix("b") if match.group(2).lower() != "b" else ""
    factor = _UNITS.get(unit) or _BINARY.get(unit + "b" if unit.endswith("i") else "")
    if factor is None:
        return value
    amount = float(match.group(1)) * factor
    if not math.isfinite(amount):
        raise ValueError("too large to be an amount")
    return round(amount)


# What parse_amount accepts, for the JSON Schema: a number with an optional SI or binary unit.
_AMOUNT_TEXT = r"^\s*[0-9]*\.?[0-9]+(e[0-9]+)?\s*([kKmMgGtT]|[kKmMgGtT]i)?[bB]?\s*$"


def _with_units(parse: Callable[[Any], Any], number: type, pattern: str) -> BeforeValidator:
    """A positive ``number`` also written as text with a unit (``200k``, ``30m``)."""
    text = Annotated[str, Field(pattern=pattern)]
    return BeforeValidator(parse, json_schema_input_type=Annotated[number, Field(gt=0)] | text)


Amount = Annotated[int, Strict(), Field(gt=0), _with_units(parse_amount, int, _AMOUNT_TEXT)]


class Constraints(SpaceNode):
    """Candidates over a limit (by the analytic cost model) are rejected before training."""

    max_params: Amount | None = None
    max_flops: Amount | None = Field(
        default=None, description="Multiply-adds for one image over the whole unroll"
    )
    max_activation_memory: Amount | None = Field(
        default=None, description="Bytes, for backprop through time of one image"
    )


_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> Any:
    """``90``, ``90s``, ``30m``, ``2h`` -> seconds."""
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhd]?)\s*", value)
    if not match:
        return value
    seconds = float(match.group(1)) * _DURATION[match.group(2) or "s"]
    if not math.isfinite(seconds):
        raise ValueError("too large to be a duration")
    return seconds


_DURATION_TEXT = r"^\s*[0-9]*\.?[0-9]+\s*[smhd]?\s*$"
Duration = Annotated[
    float, Strict(), Field(gt=0), _with_units(parse_duration, float, _DURATION_TEXT)
]


class Resources(SpaceNode):
    """What one trial gets from Ray, and how it uses its GPU (see :mod:`space.packing`).

    ``gpu: auto`` sizes each trial's GPU share from the analytic memory estimate of its
    candidate (cost-aware packing); a number asks every trial for the same share. A cluster
    without GPUs trains on CPU either way (with a logged notice).
    """

    cpu: A.Float = Field(default=1.0, gt=0.0)
    gpu: A.Float | Literal["auto"] = Field(
        default=0.0,
        description="GPUs per trial: a fraction below 1 shares a GPU, a whole number above; "
        "auto: each candidate's share from its estimated memory (space.packing)",
    )
    gpu_memory: Amount | None = Field(
        default=None,
        description="gpu: auto: the memory of one GPU in bytes (80GiB, 24GB); default: read "
        "from a GPU of the cluster when the search starts. On a cluster with different GPUs, "
        "give the smallest",
    )
    min_gpu_share: A.Float = Field(
        default=0.1,
        gt=0.0,
        le=1.0,
        description="gpu: auto: the least share a trial gets, however small its estimate "
        "(caps how many trials share one GPU: 0.1 -> at most 10)",
    )
    safety_factor: A.Float = Field(
        default=1.5,
        ge=1.0,
        le=100.0,
        description="gpu: auto: the estimate is multiplied by this before sizing the share "
        "(allocator rounding, cuDNN workspaces, backward temporaries); lower it once the "
        "trials' recorded peak_memory shows the margin is not needed",
    )
    gpu_overhead: Amount = Field(
        default=DEFAULT_GPU_OVERHEAD,
        description="gpu: auto: memory every trial's process takes besides its tensors (the "
        "CUDA context and kernels), added to the estimate",
    )
    limit_memory: bool = Field(
        default=True,
        description="Cap each trial's PyTorch allocator at its GPU share "
        "(torch.cuda.set_per_process_memory_fraction): a trial that outgrows its share runs "
        "out of memory alone instead of starving the trials it shares the GPU with",
    )
    oom_retry: bool = Field(
        default=False,
        description="Retry a candidate that ran out of GPU memory once, with twice its share "
        "(at most a whole GPU), as a new trial of the same architecture",
    )
    compile: bool = Field(
        default=False, description="torch.compile each model before training (opt-in)"
    )
    amp: Literal["auto", "off"] = Field(
        default="auto",
        description="Mixed precision on a GPU: auto (bf16 where the GPU has it, else fp16 with "
        "loss scaling) or off (fp32); the memory estimate follows it",
    )
    channels_last: bool = Field(
        default=True,
        description="Channels-last memory layout on a GPU (faster convolutions on tensor cores)",
    )

    @field_validator("gpu", mode="before")
    @classmethod
    def _number_or_auto(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        if isinstance(value, bool | str) or not isinstance(value, int | float):
            # one clear error rather than one per branch of the union
            raise ValueError("must be a number of GPUs or auto")
        return value

    @field_validator("gpu")
    @classmethod
    def _whole_above_one(cls, value: float | str) -> float | str:
        if isinstance(value, str):
            return value
        if value < 0:
            raise ValueError("must be 0 or more")
        if value > 1 and value != int(value):
            raise ValueError("more than one GPU per trial must be a whole number")
        if 0 < value < 1 and round(value * 10_000) == 0:
            raise ValueError("Ray's resource grid is 0.0001: a smaller share is not a share")
        return value

    @property
    def gpu_auto(self) -> bool:
        return self.gpu == "auto"


class SearchSettings(SpaceNode):
    """The spec's ``search:`` block (``search.settings.SearchSettings`` is another thing: the
    service's environment settings)."""

    trials: A.PositiveInt = Field(default=20, le=MAX_TRIALS)
    time_budget: Duration | None = Field(
        default=None, description="Wall-clock limit in seconds (or 30m, 2h)"
    )
    concurrency: A.PositiveInt = Field(default=1, le=MAX_TRIALS)
    sampler: Literal["tpe", "random", "nsga2", "motpe"] = "tpe"
    scheduler: Literal["asha", "fifo"] | None = Field(
        default=None, description="Default: asha for one objective, fifo for several"
    )
    seed: A.Int | None = Field(
        default=None,
        ge=0,
        le=MAX_SEED,
        description="Seed of the sampler (and the Optuna study): an integer in [0, 2**32 - 1]",
    )
    stop_after_failures: A.PositiveInt | None = Field(
        default=5,
        le=MAX_TRIALS,
        description="Stop the search after this many consecutive trials fail with the same "
        "error instead of spending the whole budget (null: never stop)",
    )
    retries: A.NonNegInt = Field(
        default=0,
        le=100,
        description="Run a trial again (from its last epoch's checkpoint) up to this many times "
        "when its worker or node dies (or it raises); 0: it is recorded failed with the reason",
    )
    resources: Resources = Field(default_factory=Resources)

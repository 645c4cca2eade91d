"""How to search a space: objectives, constraints (with amounts like ``200k``, ``2GiB``) and
the ``search:`` block (trials, time budget, concurrency, sampler, scheduler, seed, resources)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, Strict, field_validator, model_validator

from space import arch as A
from space.spec_base import SpaceNode

# Seeds go to Python's, NumPy's and Optuna's generators; NumPy takes at most 32 bits.
MAX_SEED = 2**32 - 1

# neural_fit: the ceiling-normalised fit of the trained model to recorded neurons of one region
# (best layer and time bin), computed after training on the spec's ``neural:`` data set.
Metric = Literal["val_acc", "params", "flops", "neural_fit"]
DEFAULT_GOALS: dict[str, Literal["max", "min"]] = {
    "val_acc": "max",
    "params": "min",
    "flops": "min",
    "neural_fit": "max",
}


class Objective(SpaceNode):
    metric: Metric
    goal: Literal["max", "min"] | None = Field(
        default=None,
        description="Default: max for val_acc and neural_fit, min for params and flops",
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
        return self.goal or DEFAULT_GOALS[self.metric]


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
    cpu: A.Float = Field(default=1.0, gt=0.0)
    gpu: A.Float = Field(default=0.0, ge=0.0, description="Fractions below 1 share a GPU")

    @field_validator("gpu")
    @classmethod
    def _whole_above_one(cls, value: float) -> float:
        if value > 1 and value != int(value):
            raise ValueError("more than one GPU per trial must be a whole number")
        return value


class SearchSettings(SpaceNode):
    """The spec's ``search:`` block (``search.settings.SearchSettings`` is another thing: the
    service's environment settings)."""

    trials: A.PositiveInt = 20
    time_budget: Duration | None = Field(
        default=None, description="Wall-clock limit in seconds (or 30m, 2h)"
    )
    concurrency: A.PositiveInt = 1
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
        description="Stop the search after this many consecutive trials fail with the same "
        "error instead of spending the whole budget (null: never stop)",
    )
    resources: Resources = Field(default_factory=Resources)

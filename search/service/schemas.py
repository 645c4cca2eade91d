"""The public schema: what ``--json`` prints and what ``/api/v1`` returns, one model per shape.

Field names are the request/response vocabulary of every way in; the CLI maps a few of them to
its flags (``limit`` is ``--top``) and formats these models, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from space.status import SearchStatus, TrialStatus
from space.trial_fields import BY_NAME, FIELDS, TrialField, UnknownField, field


class Schema(BaseModel):
    model_config = ConfigDict(frozen=True)


class ObjectiveOut(Schema):
    metric: str
    goal: Literal["max", "min"]


class ProblemOut(Schema):
    path: str = Field(description="Dotted field path, e.g. layers.2.cell.kind")
    message: str
    line: int | None = Field(default=None, description="Line in the YAML document, when known")
    value: Any = None


class RecoveryOut(Schema):
    """A time the search's driver lost its Ray cluster and the search went back to the queue."""

    at: datetime
    reason: str


class SearchOut(Schema):
    """One search with its progress: trial counts by status and the best values so far."""

    id: int
    name: str
    status: SearchStatus
    driver_lost: bool = Field(
        description="Running, but its driver's heartbeat stopped: resume it to continue"
    )
    cancel_requested: bool
    requested: int = Field(description="Trials the spec asks for")
    finished: int = Field(description="Trials that count towards requested")
    running: int
    failed: int = Field(description="Trials that failed, diverged or ran out of memory")
    counts: dict[str, int] = Field(description="Trials by status")
    objectives: list[ObjectiveOut]
    val_acc: float | None = Field(description="Best validation accuracy of a completed trial")
    best: list[float | None] = Field(description="Best value of each objective, in order")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    runner: str | None
    heartbeat_age: float | None = Field(description="Seconds since the driver's heartbeat")
    reason: str | None = Field(
        default=None, description="Why it ended as it did (failure reason, ...)"
    )
    note: str | None = Field(
        default=None, description="A researcher's note on it, in markdown (null: none)"
    )
    recoveries: list[RecoveryOut] = Field(
        default_factory=list,
        description="Each time its driver lost the Ray cluster and it was queued again to "
        "resume (a runner resumes it once it can reach the cluster), oldest first",
    )


class SearchPage(Schema):
    total: int
    limit: int | None
    offset: int
    items: list[SearchOut]


class TrialOut(Schema):
    """One leaderboard row: a trial's outcome, cost and sampled values."""

    rank: int | None = Field(description="Position in the search's default leaderboard")
    trial: int = Field(description="The trial's number in its search")
    status: TrialStatus
    val_acc: float | None = Field(description="Best validation accuracy over its epochs")
    last_val_acc: float | None
    params: int | None
    flops: int | None = Field(description="Multiply-accumulates over the whole unroll")
    memory: int | None = Field(description="Activation memory per image for BPTT, bytes")
    epochs: int
    seconds: float | None
    pareto: bool
    arch_hash: str
    config_hash: str
    duplicate_of: int | None
    node: str | None = Field(description="The Ray node that ran it (IP/node id)")
    error: str | None
    cells: list[str] = Field(
        description="The recurrent cell kinds its layers use, in layer order ([]: feedforward)"
    )
    gpu_share: float | None = Field(
        default=None, description="The fraction of a GPU Ray gave it (0: CPU)"
    )
    memory_estimate: int | None = Field(
        default=None, description="The analytic GPU memory estimate its share was packed by, bytes"
    )
    peak_memory: int | None = Field(
        default=None, description="Measured peak GPU memory (CUDA only), bytes"
    )
    peak_reserved: int | None = Field(
        default=None,
        description="Peak GPU memory the allocator reserved (CUDA only), bytes: what the "
        "share's cap limits, and what the estimate is checked against",
    )
    neural_fit: float | None = Field(
        default=None, description="Ceiling-normalised fit to recorded neurons (the objective)"
    )
    sampled: dict[str, Any] = Field(description="The searched parameters' values")


# The leaderboard table's columns (TrialOut fields), and the CSV's: every TrialOut field but
# ``sampled``, in the JSON's order, which starts with the table's. One definition for every CSV:
# the CLI's ``--csv`` and the ``format=csv`` stream (search.service.trials.csv_text formats
# them). Which field goes where is said once, in space.trial_fields.
BOARD_COLUMNS = tuple(f.name for f in FIELDS if f.shown == "board")
CSV_COLUMNS = tuple(name for name in TrialOut.model_fields if field(name).csv)
CSV_EXTRA = CSV_COLUMNS[len(BOARD_COLUMNS) :]
# On every leaderboard page after the board's columns (the node a trial ran on).
PAGE_COLUMNS = tuple(f.name for f in FIELDS if f.shown == "page")
# Shown in a leaderboard table only when some trial of the page has them (a CPU search without
# a neural objective has none), each with the rest of its group: the fit, and the measured peak
# memory against the estimate (every trial has its estimate: alone it shows nothing).
OPTIONAL_COLUMNS = tuple(f.name for f in FIELDS if f.optional)


def _reveals(f: TrialField, value: Any) -> bool:
    """Whether one trial's value opens the field's group (a GPU share of 0, a CPU trial's,
    shows nothing)."""
    if f.shown == "set":
        return value is not None
    return f.shown == "nonzero" and value is not None and value != 0


def shown_columns(items: Sequence[TrialOut]) -> tuple[str, ...]:
    """A leaderboard table's columns for this page: BOARD_COLUMNS, the node, then each of
    OPTIONAL_COLUMNS only when some trial of the page opens its group."""
    optional = [field(name) for name in OPTIONAL_COLUMNS]
    wanted = {f.group for item in items for f in optional if _reveals(f, getattr(item, f.name))}
    return (
        *BOARD_COLUMNS,
        *PAGE_COLUMNS,
        *(f.name for f in optional if f.group in wanted),
    )


class LeaderboardPage(Schema):
    search_id: int
    search_name: str
    sort: str
    total: int = Field(description="Trials matching the filters (all pages)")
    limit: int | None
    offset: int
    items: list[TrialOut]

    def shown_columns(self) -> tuple[str, ...]:
        """The table columns this page needs (see :func:`shown_columns`)."""
        return shown_columns(self.items)


class EpochOut(Schema):
    """One epoch's metrics (read straight from a ``trial_metrics`` row)."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    epoch: int
    train_loss: float | None
    val_loss: float | None
    val_acc: float | None
    val_acc_per_step: list[float | None] | None = Field(
        description="Validation accuracy at every unroll time step"
    )
    images_per_sec: float | None
    elapsed: float | None
    extra: dict[str, Any] = {}


class AttemptOut(Schema):
    """One run of a trial by Ray Tune: the first, then each retry after its worker died."""

    attempt: int = Field(description="1 for the first run, then each retry")
    node: str | None = Field(description="The Ray node it ran on (IP/node id)")
    started_at: datetime
    ended_at: datetime | None
    epochs: int = Field(description="The trial's epochs when it ended (a retry goes on from here)")
    outcome: str | None = Field(description="'retried', the trial's final status, or null: running")
    error: str | None


class TrialDetail(TrialOut):
    """A trial with its architecture, preprocessing and per-epoch metrics."""

    search_id: int
    arch: dict[str, Any]
    preprocessing: dict[str, Any] | None
    neural: dict[str, Any] | None = Field(
        default=None,
        description="The neural fit per layer, time bin and region, with ceilings and seconds",
    )
    started_at: datetime | None
    finished_at: datetime | None
    has_weights: bool
    history: list[EpochOut] = Field(description="Per-epoch metrics, oldest first")
    attempts: list[AttemptOut] = Field(
        default_factory=list,
        description="Each time Ray Tune ran it (search.retries), oldest first; [] before 0008",
    )
    note: str | None = Field(
        default=None, description="A researcher's note on it, in markdown (null: none)"
    )


# Every field of the table is public (CSV_COLUMNS above already looked up each TrialOut field).
if missing := [f.name for f in FIELDS if f.name not in TrialDetail.model_fields]:
    raise UnknownField(", ".join(missing), "trial field missing from TrialDetail", BY_NAME)


class ExportOut(Schema):
    search_id: int
    trial: int
    format: Literal["yaml", "json"]
    document: dict[str, Any]
    text: str
    weights: str | None = Field(default=None, description="Where the weights were written")
    output: str | None = Field(default=None, description="Where the document was written")


class ActionOut(Schema):
    """The result of cancel, resume or delete: what happened, and the search now."""

    message: str
    search: SearchOut | None


class ValidationOut(Schema):
    """A spec's verdict: every problem, or what the space holds and how it will be searched."""

    ok: bool
    errors: list[ProblemOut] = Field(description="Every problem at once (empty when ok)")
    warnings: list[str]
    name: str | None = None
    layers: int | None = None
    searched_parameters: int | None = None
    architectures: int | None = Field(default=None, description="None when uncountable")
    exact: bool | None = Field(default=None, description="Whether architectures is exact")
    summary: str | None = Field(default=None, description="The space's size in words")
    dataset: dict[str, Any] | None = None
    trials: int | None = None
    concurrency: int | None = None
    sampler: str | None = None
    scheduler: str | None = None
    objectives: list[ObjectiveOut] = []


class PresetOut(Schema):
    name: str
    description: str
    params: int
    flops: int
    layers: int = Field(description="Conv layers (the readout is not counted)")
    cells: int
    feedback_edges: int
    steps: int
    path: str


class PresetDetail(PresetOut):
    arch: dict[str, Any]
    cost: dict[str, Any] = Field(description="Per-layer parameters, FLOPs and memory")

"""The one table of a trial's public fields: what each is called, where it is stored, how it
sorts, filters, is optimised, exported and shown.

Every list of trial fields elsewhere is derived from :data:`FIELDS`: the spec's objective
metrics and their default goals, the leaderboard's sort keys and range filters, the board
indexes, the Pareto and best-value columns, the values told to Optuna, the result keys copied
onto the trial row, the CSV and table columns and how a value is printed. A metric measured by a
new worker is one row here (plus its column on ``search.records.db.Trial``, the migration that
adds it and its field on ``search.service.schemas.TrialOut``, the typed public schema).

Public names differ from a few column names (``val_acc`` is stored as ``best_val_acc``,
``params`` as ``n_params``): the row maps them, so nothing else needs to. An unknown name is an
error (:class:`UnknownField`) wherever it is looked up, never a silent default.

Order: the rows are in the leaderboard table's order (the CLI's and the web page's); the CSV
and JSON follow ``TrialOut``'s field order instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from space.errors import ConvnasError

Goal = Literal["max", "min"]
# How a value is stored, converted and printed: score (a 0..1 float, 4 decimals), count (an
# integer shown as 12.3k), bytes (shown as 1.2 MiB), seconds, share (a fraction of a GPU),
# integer, text, flag (a boolean), cells (a list of cell kinds), table (a JSON document).
Kind = Literal[
    "score", "count", "bytes", "seconds", "share", "integer", "text", "flag", "cells", "table"
]
# When a leaderboard table shows the column: board (always, in BOARD_COLUMNS), page (always,
# after the board columns), set (when some trial of the page has a value), nonzero (a value
# other than 0), group (only when another column of its group is shown), None (never).
Shown = Literal["board", "page", "set", "nonzero", "group"]


class UnknownField(ConvnasError, KeyError):
    """A trial field or metric name that is not in :data:`FIELDS`."""

    def __init__(self, name: str, role: str, known: Iterable[str]):
        self.name = name
        super().__init__(f"unknown {role} {name!r}; known: {', '.join(known)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class TrialField:
    """One public field of a trial (a ``TrialOut`` field, a CSV column, maybe a metric)."""

    name: str
    kind: Kind
    # The convnas_trials column holding it; None for the computed rank.
    column: str | None = None
    # Natural direction (best first); a field with a goal is a leaderboard sort key.
    goal: Goal | None = None
    # The sort key, when it is not the name (trials sort by ``number``).
    sort_key: str | None = None
    # The board index's name suffix (ix_convnas_trials_search_<index>), when not the sort key.
    index: str | None = None
    # A leaderboard range filter (``<name>_min``, ``<name>_max``, inclusive).
    range_filter: bool = False
    # A spec may name it in ``objectives:``.
    objective: bool = False
    # The objective value of a candidate never trained to the end (rejected, diverged); None:
    # the metric is known without training (the cost model's).
    untrained: float | None = None
    # A key a worker reports, copied onto the trial row as it arrives (last report wins).
    reported: bool = False
    # In the CSV (every TrialOut field but the sampled values).
    csv: bool = True
    # Leaderboard tables: when the CLI's and the web page's show it, the CLI's heading (the
    # name when None) and the web page's heading (None: not on the page).
    shown: Shown | None = None
    heading: str | None = None
    label: str | None = None
    # Optional columns shown together (the estimate means something next to the peak).
    group: str | None = None
    unit: str = ""

    @property
    def key(self) -> str | None:
        """The leaderboard sort key (None: not sortable)."""
        return (self.sort_key or self.name) if self.goal else None

    @property
    def optional(self) -> bool:
        """A table shows it only when some trial of the page opens its group."""
        return self.shown in ("set", "nonzero", "group")

    @property
    def stored(self) -> str:
        """The trial column; UnknownField for a field that has none (the rank)."""
        if self.column is None:
            raise UnknownField(self.name, "stored field", (f.name for f in FIELDS if f.column))
        return self.column


# fmt: off
FIELDS: tuple[TrialField, ...] = (
    TrialField("rank", "integer", shown="board", label="Rank"),
    TrialField(
        "trial", "integer", "number", goal="min", sort_key="number", shown="board", label="Trial"
    ),
    TrialField("status", "text", "status", shown="board", label="Status"),
    TrialField(
        "val_acc", "score", "best_val_acc", goal="max", index="acc", objective=True,
        untrained=0.0, shown="board", label="Val acc",
    ),
    TrialField(
        "last_val_acc", "score", "last_val_acc", goal="max", index="last_acc", shown="board",
        label="Last acc",
    ),
    TrialField(
        "params", "count", "n_params", goal="min", range_filter=True, objective=True,
        shown="board", label="Params",
    ),
    TrialField(
        "flops", "count", "flops", goal="min", range_filter=True, objective=True, shown="board",
        label="FLOPs", unit="multiply-accumulates",
    ),
    TrialField(
        "memory", "bytes", "activation_memory", goal="min", shown="board", label="Memory",
        unit="bytes",
    ),
    TrialField("epochs", "integer", "epochs", goal="max", shown="board", label="Epochs"),
    TrialField(
        "seconds", "seconds", "train_seconds", goal="min", shown="board", label="Time", unit="s"
    ),
    TrialField("pareto", "flag", "pareto", shown="board", label="Pareto"),
    TrialField("arch_hash", "text", "arch_hash", shown="board"),
    TrialField("cells", "cells", "cell_kinds", label="Cells"),
    TrialField("node", "text", "node", shown="page", label="Node"),
    # issue 14: the ceiling-normalised fit to recorded neurons (best layer and time bin).
    TrialField(
        "neural_fit", "score", "neural_fit", goal="max", objective=True, untrained=0.0,
        reported=True, shown="set", heading="fit", label="Neural fit", group="neural",
    ),
    # issue 12: where and how the trial ran, and the estimate its GPU share was packed by.
    TrialField(
        "gpu_share", "share", "gpu_share", reported=True, shown="nonzero", heading="gpu",
        label="GPU share", group="gpu",
    ),
    TrialField(
        "peak_memory", "bytes", "peak_memory", reported=True, shown="set", heading="peak",
        label="Peak memory", group="gpu", unit="bytes",
    ),
    TrialField(
        "memory_estimate", "bytes", "memory_estimate", reported=True, shown="group",
        heading="est.", label="Estimate", group="gpu", unit="bytes",
    ),
    # issue 20: the allocator's reserved peak, which the per-process cap limits (in the JSON,
    # the CSV and `convnas trial`; the leaderboard tables keep the allocated peak only).
    TrialField("peak_reserved", "bytes", "peak_reserved", reported=True, unit="bytes"),
    TrialField("config_hash", "text", "config_hash"),
    TrialField("duplicate_of", "integer", "duplicate_of"),
    TrialField("error", "text", "error"),
    TrialField("sampled", "table", "params", csv=False),
    # The fit per layer, time bin and region: on the trial row, shown by one trial's detail.
    TrialField("neural", "table", "neural", reported=True, csv=False),
)
# fmt: on

BY_NAME: dict[str, TrialField] = {f.name: f for f in FIELDS}


def field(name: str) -> TrialField:
    """The field of this public name; UnknownField otherwise."""
    found = BY_NAME.get(name)
    if found is None:
        raise UnknownField(name, "trial field", BY_NAME)
    return found


# The spec's objective metrics, in table order, and each one's default goal.
OBJECTIVES: tuple[str, ...] = tuple(f.name for f in FIELDS if f.objective)
DEFAULT_GOALS: dict[str, Goal] = {f.name: f.goal for f in FIELDS if f.objective and f.goal}
# Leaderboard sort keys -> their fields.
SORTABLE: dict[str, TrialField] = {f.key: f for f in FIELDS if f.key}
RANGE_FILTERS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.range_filter)
REPORTED: tuple[TrialField, ...] = tuple(f for f in FIELDS if f.reported)


def objective(metric: str) -> TrialField:
    """The field an objective names; UnknownField for anything a spec cannot optimise (a
    metric missing here must never be optimised as some other one)."""
    found = BY_NAME.get(metric)
    if found is None or not found.objective:
        raise UnknownField(metric, "objective metric", OBJECTIVES)
    return found


def sortable(key: str) -> TrialField:
    """The field a leaderboard sort key orders by; UnknownField otherwise."""
    found = SORTABLE.get(key)
    if found is None:
        raise UnknownField(key, "sort key", SORTABLE)
    return found


def _check() -> None:
    """The table's own rules, checked on import: a broken row fails at once, not later."""
    assert len(SORTABLE) == sum(1 for f in FIELDS if f.key), "duplicate sort keys"
    for f in FIELDS:
        assert not f.objective or f.key == f.name, f"objective {f.name}: a goal, its own sort key"
        assert not (f.goal or f.range_filter or f.reported) or f.column, f"{f.name}: column"
        assert f.shown != "group" or f.group, f"{f.name}: a group column needs its group"
    assert len(BY_NAME) == len(FIELDS), "duplicate field names"


_check()

"""A trial's row as the run side writes it: as a candidate is proposed (:func:`trial_row`), as
its worker's reports arrive (:func:`record_run_facts`, the contract between workers and
search: the reported fields of :mod:`space.trial_fields`) and as each attempt to run it starts
and ends (:func:`open_attempt`, :func:`close_attempt`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from search.records.db import (
    Trial,
    arch_cell_kinds,
    clean_json,
    encode_cells,
    finite,
    utcnow,
)
from space import trial_fields
from space.arch import Arch
from space.cost import ArchCost


def trial_row(
    search_id: int,
    number: int,
    params: Mapping[str, Any],
    arch: Arch,
    arch_cost: ArchCost | None,
    status: str,
    *,
    optuna_trial_id: int | None = None,
) -> Trial:
    """The record of a proposed candidate, before any outcome: what every trial row starts as
    (``bench/api_latency.py`` seeds its trials through this too)."""
    arch_data = arch.to_dict()
    return Trial(
        search_id=search_id,
        number=number,
        optuna_trial_id=optuna_trial_id,
        status=status,
        arch=arch_data,
        arch_hash=arch.arch_hash,
        config_hash=arch.config_hash,
        params=clean_json(dict(params)),
        n_params=arch_cost.params if arch_cost else None,
        flops=arch_cost.flops if arch_cost else None,
        activation_memory=arch_cost.activation_bytes if arch_cost else None,
        epochs=0,
        pareto=False,
        cell_kinds=encode_cells(arch_cell_kinds(arch_data)),
    )


def _bytes(value: Any) -> int | None:
    number = finite(value)
    return None if number is None else int(number)


def _table(value: Any) -> dict[str, Any] | None:
    return clean_json(dict(value)) if isinstance(value, Mapping) else None


# How a reported value becomes its column's, by the field's kind (space.trial_fields).
_CONVERT: dict[str, Callable[[Any], Any]] = {
    "score": finite, "share": finite, "seconds": finite,
    "bytes": _bytes, "count": _bytes, "integer": _bytes,
    "table": _table,
}  # fmt: skip
# Result keys recorded on the trial row (the contract between workers and search): the table's
# reported fields, key -> (column, conversion). A key present in a result sets its column, so
# the last result that has it wins; a missing key leaves the column as it was.
RUN_FACTS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    f.name: (f.stored, _CONVERT[f.kind]) for f in trial_fields.REPORTED
}


def record_run_facts(row: Trial, result: Mapping[str, Any]) -> None:
    """Copy what the trial reported about where and how it ran, and its neural fit, onto its
    row (:data:`RUN_FACTS`); a reported ``node`` too when the driver could not name the node
    (its ``IP/node id`` from Ray, set as the trial starts, tells apart nodes sharing an IP)."""
    for key, (column, convert) in RUN_FACTS.items():
        if key in result:
            setattr(row, column, convert(result[key]))
    node = result.get("node")
    if isinstance(node, str) and node and not row.node:
        row.node = node[:200]


def open_attempt(row: Trial, node: str | None, now: datetime | None = None) -> None:
    """Ray Tune started the trial (again): a new attempt, on ``node``."""
    attempts = list(row.attempts or [])
    attempts.append(
        {
            "attempt": len(attempts) + 1,
            "node": node,
            "started_at": (now or utcnow()).isoformat(),
            "ended_at": None,
            "epochs": row.epochs,
            "outcome": None,
            "error": None,
        }
    )
    row.attempts = attempts  # a new list: the JSON column sees the change


def close_attempt(
    row: Trial, outcome: str, error: str | None = None, now: datetime | None = None
) -> None:
    """The current attempt ended (``retried`` after its worker died, else the trial's final
    status), having reached the trial's epochs so far; a trial with no attempt open is left."""
    attempts = list(row.attempts or [])
    if not attempts or attempts[-1].get("ended_at") is not None:
        return
    last = {**attempts[-1], "ended_at": (now or utcnow()).isoformat(), "outcome": outcome}
    last["epochs"], last["error"] = row.epochs, error[:2000] if error else None
    row.attempts = [*attempts[:-1], last]

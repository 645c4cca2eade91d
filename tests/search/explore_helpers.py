"""A quickstart search recorded without training, for the plots and the parameter filters:
each trial's values drawn by the seeded random sampler (so conditional parameters are missing
where their condition was off), its accuracy a fixed function of them, a few epochs each, and
some trials failed, pruned or still running."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from search.records.db import TrialMetric, session_scope, utcnow
from search.records.lifecycle import create_search
from search.records.trial_rows import trial_row
from space.cost import cost
from space.sampling import RandomSampler, freeze
from space.spec import load_spec

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"
EPOCHS = 3


def accuracy(params: dict[str, Any]) -> float:
    """The made-up val_acc of a trial: higher with the learning rate and an rgc cell."""
    lr = params["training.lr"]
    bonus = 0.1 if params["cells.main.kind"] == "rgc" else 0.0
    return round(0.5 + 0.3 * math.log(lr / 0.02) / math.log(4) + bonus, 6)


def status_of(number: int) -> str:
    return {7: "failed", 5: "pruned", 3: "running"}.get(number % 11, "completed")


def populate_quickstart(engine: Engine, count: int, name: str = "explore") -> int:
    """A quickstart search with ``count`` trials; returns its id."""
    search_id = create_search(engine, load_spec(QUICKSTART).model_copy(update={"name": name}))
    start = utcnow() - timedelta(hours=1)
    with session_scope(engine) as s:
        for number in range(count):
            sampler = RandomSampler(number)
            arch = freeze(load_spec(QUICKSTART), sampler)
            status = status_of(number)
            row = trial_row(search_id, number, sampler.params, arch, cost(arch), status)
            acc = accuracy(sampler.params)
            epochs = 1 if status == "pruned" else (2 if status == "running" else EPOCHS)
            epochs = 0 if status == "failed" else epochs
            row.epochs = epochs
            row.node = f"127.0.0.1/node{number % 2}"
            row.started_at = start + timedelta(seconds=2 * number)
            if status != "running":
                row.finished_at = row.started_at + timedelta(seconds=3)
            if epochs:
                row.best_val_acc = row.last_val_acc = acc
            s.add(row)
            s.flush()
            for epoch in range(1, epochs + 1):
                s.add(
                    TrialMetric(
                        trial_id=row.id, epoch=epoch, val_acc=acc * epoch / EPOCHS,
                        val_acc_per_step=[0.1, acc * epoch / EPOCHS], extra={},
                    )
                )  # fmt: skip
    return search_id


def sampled(engine: Engine, search_id: int) -> dict[int, tuple[str, dict[str, Any]]]:
    """Trial number -> (status, sampled values), as recorded."""
    from sqlalchemy import select

    from search.records.db import Trial

    with session_scope(engine) as s:
        rows = s.execute(
            select(Trial.number, Trial.status, Trial.params).where(Trial.search_id == search_id)
        )
        return {r.number: (r.status, dict(r.params)) for r in rows}


# Every column of a trial row the copies repeat (numbers and accuracies are varied, ids new).
_COPIED = (
    "search_id, status, arch, arch_hash, config_hash, params, n_params, flops, "
    "activation_memory, last_val_acc, epochs, node, created_at, started_at, finished_at, "
    "pareto, cell_kinds"
)


def grow_by_copies(engine: Engine, search_id: int, total: int) -> None:
    """Copy a search's trials (and their epochs) by SQL until it holds ``total``: copy k of
    trial n is trial n + k x seed count, its accuracy nudged by (n + k) mod 97 / 10000 so that
    copies do not tie; then ANALYZE, as a long-running database would have."""
    from sqlalchemy import func, select, text

    from search.records.db import Trial

    with session_scope(engine) as s:
        seed = s.scalar(select(func.count()).where(Trial.search_id == search_id)) or 0
    copies = -(-total // seed) - 1
    with engine.begin() as conn:
        for k in range(1, copies + 1):
            values = {"sid": search_id, "shift": k * seed, "k": k, "total": total, "seed": seed}
            conn.execute(
                text(
                    f"INSERT INTO convnas_trials (number, best_val_acc, {_COPIED}) "
                    "SELECT number + :shift, best_val_acc + ((number + :k) % 97) / 10000.0, "
                    f"{_COPIED} FROM convnas_trials WHERE search_id = :sid "
                    "AND number < :seed AND number + :shift < :total"
                ),
                values,
            )
            conn.execute(
                text(
                    "INSERT INTO convnas_trial_metrics (trial_id, epoch, val_acc, "
                    "val_acc_per_step, extra, recorded_at) SELECT c.id, m.epoch, m.val_acc, "
                    "m.val_acc_per_step, m.extra, m.recorded_at FROM convnas_trial_metrics m "
                    "JOIN convnas_trials o ON o.id = m.trial_id "
                    "JOIN convnas_trials c ON c.search_id = o.search_id "
                    "AND c.number = o.number + :shift "
                    "WHERE o.search_id = :sid AND o.number < :seed"
                ),
                values,
            )
        conn.execute(text("ANALYZE"))

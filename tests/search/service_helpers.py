"""A populated search for the service and CLI tests: three trials, no Ray."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from search.records.db import Search, Trial, TrialMetric, session_scope
from search.records.leaderboard import TrialQuery, leaderboard
from search.records.lifecycle import create_search
from space.cost import cost
from space.sampling import sample
from tests.search.search_helpers import tiny_spec

# (status, best val_acc) of trials 0, 1, 2: trial 1 is the best.
TRIALS: list[tuple[str, float | None]] = [("completed", 0.5), ("completed", 0.9), ("failed", None)]


def populate(engine: Engine, name: str = "tiny", **spec: Any) -> int:
    """A search with TRIALS recorded (epochs with per-step accuracy on the completed ones)."""
    built = tiny_spec(name=name, trials=3, **spec)
    search_id = create_search(engine, built)
    with session_scope(engine) as s:
        for number, (status, acc) in enumerate(TRIALS):
            arch = sample(built, seed=number)
            c = cost(arch)
            trial = Trial(
                search_id=search_id,
                number=number,
                status=status,
                arch=arch.to_dict(),
                arch_hash=arch.arch_hash,
                config_hash=arch.config_hash,
                params={"training.lr": 0.1 * (number + 1)},
                n_params=c.params,
                flops=c.flops,
                activation_memory=c.activation_bytes,
                best_val_acc=acc,
                last_val_acc=acc,
                epochs=2 if acc is not None else 0,
                pareto=False,
                error=None if acc is not None else "RuntimeError: boom",
            )
            s.add(trial)
            s.flush()
            for epoch in (1, 2) if acc is not None else ():
                s.add(
                    TrialMetric(
                        trial_id=trial.id,
                        epoch=epoch,
                        val_acc=acc * epoch / 2,
                        val_acc_per_step=[0.1, acc * epoch / 2],
                        extra={},
                    )
                )
    return search_id


def board(session: Any, search_id: int, **query: Any) -> list[Trial]:
    """The leaderboard's trials of a search for ``TrialQuery(**query)``."""
    return leaderboard(session, session.get(Search, search_id), TrialQuery(**query))[0]


def row(engine: Engine, search_id: int) -> Search:
    """The search's record as stored now."""
    with session_scope(engine) as s:
        found = s.get(Search, search_id)
        assert found is not None
        return found

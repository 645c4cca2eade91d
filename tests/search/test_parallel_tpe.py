"""Parallel TPE (issue 21): with trials in flight, the samplers a spec names spread their
proposals instead of asking for near-copies of one point (constant liar), single- and
multi-objective alike."""

from __future__ import annotations

import optuna
import pytest

from search.run.optuna_bridge import make_sampler

IN_FLIGHT = 16


def distinct_in_flight(sampler: optuna.samplers.BaseSampler, objectives: int) -> int:
    """How many of IN_FLIGHT proposals asked after 30 results (none told yet) differ at 0.01."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize"] * objectives, sampler=sampler)
    for _ in range(30):
        trial = study.ask()
        x = trial.suggest_float("x", 0, 1)
        values = [-((x - 0.3) ** 2), -((x - 0.6) ** 2)][:objectives]
        study.tell(trial, values if objectives > 1 else values[0])
    pending = [study.ask().suggest_float("x", 0, 1) for _ in range(IN_FLIGHT)]
    return len({round(x, 2) for x in pending})


@pytest.mark.parametrize(("name", "objectives"), [("tpe", 1), ("motpe", 2)])
def test_trials_in_flight_spread_the_next_proposals(name: str, objectives: int) -> None:
    for seed in range(3):
        ours = make_sampler(name, seed=seed, n_objectives=objectives, trials=300)
        assert isinstance(ours, optuna.samplers.TPESampler)
        naive = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=10, multivariate=objectives > 1, constant_liar=False
        )
        spread, clumped = (
            distinct_in_flight(ours, objectives),
            distinct_in_flight(naive, objectives),
        )
        assert spread >= 13, (seed, spread)
        assert spread > clumped, (seed, spread, clumped)

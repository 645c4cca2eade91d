"""Optuna sees feedback edges as one count and one priority per candidate, under the same names
and distributions in every trial, and a trial's recorded params rebuild its edges."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search.run.optuna_bridge import OptunaSampler, make_sampler, tpe_startup
from space.sampling import ReplaySampler, freeze
from space.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RELEASED = {"conv8->conv5", "conv9->conv6", "conv10->conv7", "conv7->conv6", "conv10->conv9"}


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_optuna_params_replay_to_the_same_edges(sampler: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_spec(EXAMPLES / "paper_rgc.yaml")
    study = optuna.create_study(
        direction="maximize", sampler=make_sampler(sampler, seed=0, n_objectives=1, trials=30)
    )
    hashes: dict[int, str] = {}

    def objective(trial: optuna.Trial) -> float:
        arch = freeze(spec, OptunaSampler(trial))
        hashes[trial.number] = arch.arch_hash
        edges = {f"{e.source}->{e.target}" for e in arch.feedback}
        return len(edges & RELEASED) - 0.5 * len(edges - RELEASED)

    study.optimize(objective, n_trials=30)
    distributions: dict[str, optuna.distributions.BaseDistribution] = {}
    for trial in study.trials:
        rebuilt = freeze(spec, ReplaySampler(trial.params))
        assert rebuilt.arch_hash == hashes[trial.number]
        fixed = freeze(spec, OptunaSampler(optuna.trial.FixedTrial(trial.params)))
        assert fixed.arch_hash == hashes[trial.number]
        for name, distribution in trial.distributions.items():
            if name.startswith("feedback."):
                assert distributions.setdefault(name, distribution) == distribution
    names = set(distributions)
    assert "feedback.edges" in names
    priorities = {n for n in names if n.endswith(".priority")}
    assert priorities == {
        f"feedback.{c.source}->{c.target}.priority" for c in spec.edge_candidates()
    }


def test_tpe_starts_modelling_after_a_tenth_of_a_short_search() -> None:
    # a tenth of the budget, 4 to 10 (bench/search_efficiency.py: on its table within the
    # intervals of Optuna's fixed 10, which spends half of a 20-trial search at random)
    assert [tpe_startup(n) for n in (8, 20, 40, 60, 100, 2000)] == [4, 4, 4, 6, 10, 10]
    for name in ("tpe", "motpe"):
        sampler = make_sampler(name, seed=0, n_objectives=1, trials=40)
        assert isinstance(sampler, optuna.samplers.TPESampler)
        assert sampler._n_startup_trials == 4

"""bench/search_efficiency.py's TPE variants are the product's TPE with only their own setting
changed (issue 21), so that a figure for a variant measures that one setting against what users
get, and a variant follows any later change of the product's defaults."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from search.run.optuna_bridge import make_sampler

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench() -> Iterator[Any]:
    sys.path.insert(0, str(BENCH))  # the bench imports its sibling efficiency_table
    try:
        import search_efficiency

        yield search_efficiency
    finally:
        sys.path.remove(str(BENCH))


def settings(sampler: optuna.samplers.BaseSampler) -> dict[str, Any]:
    assert isinstance(sampler, optuna.samplers.TPESampler)
    estimator = sampler._parzen_estimator_parameters
    return {
        "n_startup_trials": sampler._n_startup_trials,
        "constant_liar": sampler._constant_liar,
        "multivariate": sampler._multivariate,
        "group": sampler._group,
        "n_ei_candidates": sampler._n_ei_candidates,
        "prior_weight": estimator.prior_weight,
        "consider_endpoints": estimator.consider_endpoints,
    }


CHANGED = {
    "tpe-noliar": {"constant_liar": False},
    "tpe-10": {"n_startup_trials": 10},
    "tpe-1": {"n_startup_trials": 1},
    "tpe-group": {"multivariate": True, "group": True},
    "tpe-indep": {"multivariate": False},
    "tpe-ei48": {"n_ei_candidates": 48},
    "tpe-endpoints": {"consider_endpoints": True},
    "tpe-prior2": {"prior_weight": 2.0},
    "tpe-prior05": {"prior_weight": 0.5},
}


@pytest.mark.filterwarnings(
    "ignore::FutureWarning", "ignore::optuna.exceptions.ExperimentalWarning"
)
@pytest.mark.parametrize("trials", [20, 40])  # from 100 trials tpe-10 is the product's
def test_each_tpe_arm_is_the_products_tpe_with_one_setting_changed(bench: Any, trials: int) -> None:
    assert bench.DEFAULT_ARMS == ["random", "tpe", "tpe-noliar", "tpe-10"]
    assert set(bench.ARMS) == {"random", "tpe", *CHANGED}
    product = settings(make_sampler("tpe", seed=0, n_objectives=1, trials=trials))
    assert settings(bench.ARMS["tpe"](0, trials)) == product
    assert isinstance(bench.ARMS["random"](0, trials), optuna.samplers.RandomSampler)
    for arm, changed in CHANGED.items():
        assert any(product[k] != v for k, v in changed.items()), (arm, trials)  # a real change
        assert settings(bench.ARMS[arm](0, trials)) == {**product, **changed}, arm

"""The one adapter between the DSL and Optuna, plus the sampler factory (the study's storage
is a record: :mod:`search.records.studies`).

:class:`OptunaSampler` turns an Optuna trial into a ``space.sampling.Sampler``: each searched leaf
``(label, domain)`` becomes one ``suggest_*`` call named by the leaf's stable label, so
``space.sampling.freeze(spec, OptunaSampler(trial))`` samples define-by-run (conditional branches
are asked only when taken).

Constraints: a candidate over a limit is never trained. The driver tells Optuna about it itself
(``study.tell``) because it is decided before Ray Tune sees the trial. It is told as COMPLETE
with the worst accuracy (0.0) and its true params/FLOPs, and its relative overshoot per limit is
set with ``trial.set_constraint`` (Optuna 5's replacement of the deprecated ``constraints_func``;
> 0 means infeasible). TPE and NSGA-II then rank it infeasible by how far over it is (they prefer
any feasible trial, and among infeasible ones the least violating) instead of ignoring it as they
would a FAILED trial; the random sampler ignores both. Trained trials set no constraint: they
passed every limit before training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna

from space.budget import CONSTRAINT_KINDS
from space.params import Boolean, Categorical, Domain, Fixed, FloatRange, IntRange

SAMPLERS = ("tpe", "random", "nsga2", "motpe")


class OptunaSampler:
    """``space.sampling.Sampler`` over an Optuna trial; remembers what it sampled, by label."""

    def __init__(self, trial: optuna.trial.BaseTrial):
        self.trial = trial
        self.params: dict[str, Any] = {}

    def __call__(self, label: str, domain: Domain) -> Any:
        value = suggest(self.trial, label, domain)
        self.params[label] = value
        return value


def suggest(trial: optuna.trial.BaseTrial, label: str, domain: Domain) -> Any:
    """One DSL domain as one Optuna suggestion (one to one, nothing approximated)."""
    if isinstance(domain, Categorical):
        return trial.suggest_categorical(label, list(domain.choices))
    if isinstance(domain, IntRange):
        return trial.suggest_int(label, domain.low, domain.high, step=domain.step)
    if isinstance(domain, FloatRange):
        return trial.suggest_float(label, domain.low, domain.high, log=domain.log)
    if isinstance(domain, Boolean):
        return trial.suggest_categorical(label, [False, True])
    if isinstance(domain, Fixed):
        return domain.value
    raise TypeError(f"{label}: unsupported domain {domain!r}")


def mark_infeasible(trial: optuna.Trial, overshoot: Sequence[float]) -> None:
    """Record the relative overshoot per constraint kind (<= 0 feasible) on an Optuna trial."""
    for kind, value in zip(CONSTRAINT_KINDS, overshoot, strict=True):
        trial.set_constraint(kind, float(value))


def tpe_startup(trials: int) -> int:
    """Random trials before TPE models the results: Optuna's 10, but a tenth of a shorter search
    (at least 4). With 10, a 40-trial search spends a quarter of its budget (and a 20-trial one
    half) sampling at random. On bench/search_efficiency.py's table (2 seeds, 40 search seeds)
    the two settings reach random's expected best of 20 and of 40 within each other's 90%
    intervals: the scaled start costs nothing there and leaves short searches more trials."""
    return max(4, min(10, trials // 10))


def tpe_options(trials: int) -> dict[str, Any]:
    """The single-objective TPE's settings (all but the seed) for a search of ``trials``.

    constant_liar: a trial still in flight counts as the worst result, so that concurrent asks
    spread out instead of proposing near-copies of one point until results come back (Optuna 5
    defaults to it; said here so that a change of default does not silently drop it). The rest
    are Optuna 5's defaults: multivariate over the parameters every trial has (the conditional
    ones univariate), 24 expected-improvement candidates.

    Other settings measured against these (issue 21; bench/search_efficiency.py --arms, its
    seed-mean table, trials to reach random's expected best of 40 with 8 in flight, 200 search
    seeds, 90% intervals): these 30 (28-34); ``multivariate`` with ``group`` 29 (27-31); 1 and
    10 startup trials 31 (28-35) and 33 (29-35); univariate 34 (31-37); 48 candidates 29
    (26-33); ``consider_endpoints`` 30 (28-33); ``prior_weight`` 2 and 0.5 (both deprecated) 27
    (25-30) and 34 (30-35). None is clearly better, none reaches 24. One at a time these need 29
    (26-35) and ``group`` 25 (23-28): the gap to 24 is TPE's on that table, not the liar's."""
    return {"n_startup_trials": tpe_startup(trials), "constant_liar": True}


def make_sampler(
    name: str, *, seed: int | None, n_objectives: int, trials: int
) -> optuna.samplers.BaseSampler:
    """The Optuna sampler a spec names; every one seedable, all but random constraint-aware."""
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **tpe_options(trials))
    if name == "motpe":
        # Multi-objective TPE: Optuna's TPE handles several objectives itself; multivariate
        # grouping models the joint distribution of parameters sampled together (one branch).
        return optuna.samplers.TPESampler(
            seed=seed,
            multivariate=True,
            group=True,
            n_startup_trials=tpe_startup(trials),
            constant_liar=True,
        )
    if name == "nsga2":
        # Optuna's default population (50) would keep a small search random throughout: use
        # about a quarter of the trials (at least 4) so that some generations evolve.
        population = max(4, min(50, trials // 4))
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=population)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"search.sampler: unknown sampler {name!r}; choose one of {SAMPLERS}")

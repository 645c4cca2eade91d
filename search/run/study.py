"""A search's Optuna study: opening it in the convnas database, and what each trial's record
tells it (state and objective values).

What each final status tells Optuna: diverged is a real (bad) outcome of the sampled
hyperparameters, so the sampler learns from it; a crash or OOM says nothing about the candidate's
quality and is FAIL (ignored by the samplers). Rejected and duplicate trials carry the values
settled when they were recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from search.records.db import Trial, finite
from search.records.pareto import Ranked, objective_column
from search.records.studies import rdb_storage
from search.run.optuna_bridge import make_sampler
from space import trial_fields
from space.spec import SearchSpec
from space.status import TrialStatus

log = logging.getLogger(__name__)

TOLD = {
    TrialStatus.COMPLETED: TrialState.COMPLETE,
    TrialStatus.DIVERGED: TrialState.COMPLETE,
    TrialStatus.PRUNED: TrialState.PRUNED,
    TrialStatus.FAILED: TrialState.FAIL,
    TrialStatus.OUT_OF_MEMORY: TrialState.FAIL,
    TrialStatus.CANCELLED: TrialState.FAIL,
    TrialStatus.INTERRUPTED: TrialState.FAIL,
}


def open_study(study_name: str, spec: SearchSpec, url: str, trials: int) -> optuna.Study:
    """The search's Optuna study in the convnas database (created on first use).

    Call it outside any open session: on SQLite a session holds the write lock. A resumed
    study's sampler is seeded with ``seed + trials so far``: the same seed again would replay
    the first run's proposals, which are now duplicates.
    """
    # Optuna's INFO lines ("A new study created in RDB ...") say nothing the progress lines
    # don't; warnings and errors still show.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objectives = spec.objectives
    storage = rdb_storage(url)
    seed = spec.search.seed
    if seed is not None:
        seed += _trials_so_far(storage, study_name)
    sampler = make_sampler(
        spec.search.sampler, seed=seed, n_objectives=len(objectives), trials=trials
    )
    return optuna.create_study(
        storage=storage,
        sampler=sampler,
        pruner=optuna.pruners.NopPruner(),  # ASHA in Ray Tune decides early stops
        study_name=study_name,
        directions=["maximize" if o.direction == "max" else "minimize" for o in objectives],
        load_if_exists=True,
    )


def _trials_so_far(storage: optuna.storages.BaseStorage, study_name: str) -> int:
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return 0
    return len(storage.get_all_trials(study_id, deepcopy=False))


def values_for(
    objectives: Sequence[Ranked], measured: Mapping[str, Any], untrained: bool
) -> list[float] | None:
    """The objective values in the spec's order, read from ``measured`` (public metric name ->
    value); None when one is missing or not finite. ``untrained``: the candidate was never
    trained to the end (rejected, diverged), so a metric only training gives (accuracy, neural
    fit) takes its field's ``untrained`` value (0.0: what a model that predicts nothing scores).
    An objective that is no metric of the table raises UnknownField."""
    out: list[float] = []
    for objective in objectives:
        metric = trial_fields.objective(objective.metric)
        value = finite(measured.get(metric.name))
        if value is None and untrained and metric.untrained is not None:
            value = metric.untrained
        if value is None:
            return None
        out.append(value)
    return out


def measured_on(row: Trial, objectives: Sequence[Ranked]) -> dict[str, Any]:
    """The objectives' values recorded on a trial row, by metric name."""
    return {o.metric: getattr(row, objective_column(o.metric)) for o in objectives}


def outcome(row: Trial, objectives: Sequence[Ranked]) -> tuple[TrialState, list[float] | None]:
    """What the record ``row`` tells Optuna: its state and objective values."""
    if row.status in (TrialStatus.REJECTED, TrialStatus.DUPLICATE):
        values = list(row.values) if row.values else None
        return (TrialState.COMPLETE, values) if values else (TrialState.FAIL, None)
    state = TOLD.get(row.status, TrialState.FAIL)  # type: ignore[call-overload]
    if state == TrialState.FAIL:
        return state, None
    diverged = row.status == TrialStatus.DIVERGED
    values = values_for(objectives, measured_on(row, objectives), diverged)
    if state == TrialState.COMPLETE and values is None:
        return TrialState.FAIL, None
    if state == TrialState.PRUNED:
        return state, None  # Optuna takes a pruned trial's last intermediate value
    return state, values


def tell(
    study: optuna.Study,
    trial: optuna.Trial | int,
    state: TrialState,
    values: Sequence[float] | None,
) -> None:
    """``study.tell`` that logs instead of raising: the record stays whatever Optuna says
    (it refuses e.g. NaN)."""
    try:
        study.tell(trial, values, state=state, skip_if_finished=True)
    except Exception as exc:
        number = trial if isinstance(trial, int) else trial.number
        log.warning("could not tell Optuna about trial %s: %s", number, exc)

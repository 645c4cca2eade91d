"""What the search page plots beyond the leaderboard: the best value so far over trial number,
the accuracy distribution per cell-kind combination, and parameter importance.

The first two read two narrow columns of the completed trials in one pass each (the covering
index serves them) and keep only what a chart draws: the best-so-far steps (one point per
improvement) and five numbers per cell-kind combination, so they stay small at 100k trials.
Importance needs Optuna's study; it is imported lazily, computed on at most
``IMPORTANCE_MAX_TRIALS`` trials and cached per (search, completed trials).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Engine, func, select

from search.records import repository as repo
from search.records.db import Trial, decode_cells, read_scope
from search.records.leaderboard import default_sort, objectives_of, parse_sort
from search.records.lru import LRU
from space.spec import Objective
from space.spec import neural_region as rule
from space.status import TrialStatus

# Below this many completed trials importance is noise: the endpoint says so instead.
IMPORTANCE_MIN_TRIALS = 10
# Importance is computed on the latest trials only, which bounds its time at any search size.
IMPORTANCE_MAX_TRIALS = 1000
_CACHE_SIZE = 64


class StepPoint(BaseModel):
    """The best value of the first objective reached at trial ``trial``."""

    trial: int
    value: float


class BestSoFar(BaseModel):
    metric: str = Field(description="The first objective's metric")
    goal: str = Field(description="max or min")
    points: list[StepPoint] = Field(description="Only the trials where the best improved")
    last_trial: int | None = Field(description="The last completed trial (where the line ends)")


class KindStats(BaseModel):
    """Five-number summary of the best validation accuracy of one cell-kind combination."""

    cells: list[str] = Field(description="The cell kinds (empty: feedforward)")
    label: str
    count: int
    min: float
    q1: float
    median: float
    q3: float
    max: float


class SearchCharts(BaseModel):
    search_id: int
    completed: int
    best_so_far: BestSoFar
    by_cells: list[KindStats] = Field(description="Best median first")
    neural_region: str | None = Field(
        default=None,
        description="The region a neural_fit objective fits (the objective's, else the neural "
        "block's); None without a neural_fit objective or when the spec leaves it to the data",
    )


class Importance(BaseModel):
    param: str
    importance: float


class ImportanceOut(BaseModel):
    search_id: int
    completed: int
    used_trials: int = Field(description="How many of the latest completed trials were used")
    ready: bool
    reason: str | None = Field(default=None, description="Why there is no result yet")
    evaluator: str | None = None
    objective: str | None = None
    items: list[Importance] = Field(default_factory=list, description="Most important first")


def search_charts(engine: Engine, ref: str | int) -> SearchCharts:
    """The best-so-far steps and the per-cell-kind accuracy summary of a search."""
    with read_scope(engine) as s:
        search = repo.resolve_search(s, ref)
        objectives = objectives_of(search.spec)
        column, goal, metric = parse_sort(default_sort(objectives))
        done = (Trial.search_id == search.id) & (Trial.status == TrialStatus.COMPLETED)
        steps = s.execute(select(Trial.number, column).where(done).order_by(Trial.number))
        points, last = best_steps(steps, goal)
        accs = s.execute(
            select(Trial.cell_kinds, Trial.best_val_acc).where(
                done & Trial.best_val_acc.is_not(None)
            )
        )
        by_cells = kind_stats(accs)
        completed = s.scalar(select(func.count()).where(done)) or 0
        return SearchCharts(
            search_id=search.id,
            completed=completed,
            best_so_far=BestSoFar(metric=metric, goal=goal, points=points, last_trial=last),
            by_cells=by_cells,
            neural_region=neural_region(search.spec, objectives),
        )


def neural_region(spec_data: dict[str, Any], objectives: Sequence[Objective]) -> str | None:
    """The region named for the neural_fit objective, as the trials are scored on it."""
    fit = next((o for o in objectives if o.metric == "neural_fit"), None)
    if fit is None:
        return None
    block = spec_data.get("neural")
    named = block.get("region") if isinstance(block, dict) else None
    return rule(objectives, named if isinstance(named, str) else None).name


def best_steps(rows: Any, goal: str) -> tuple[list[StepPoint], int | None]:
    """(number, value) rows in trial order -> the points where the best improves, and the last
    trial number seen."""
    points: list[StepPoint] = []
    best: float | None = None
    last: int | None = None
    for number, value in rows:
        last = number
        if value is None:
            continue
        if best is None or (value > best if goal == "max" else value < best):
            best = float(value)
            points.append(StepPoint(trial=number, value=best))
    return points, last


def kind_stats(rows: Any) -> list[KindStats]:
    """(cell_kinds, acc) rows -> one summary per combination, best median first."""
    groups: dict[str, list[float]] = {}
    for cells, acc in rows:
        groups.setdefault(cells or "", []).append(float(acc))
    out = []
    for cells, values in groups.items():
        values.sort()
        kinds = decode_cells(cells)
        out.append(
            KindStats(
                cells=kinds,
                label=" + ".join(kinds) if kinds else "feedforward",
                count=len(values),
                min=values[0],
                q1=quantile(values, 0.25),
                median=quantile(values, 0.5),
                q3=quantile(values, 0.75),
                max=values[-1],
            )
        )
    return sorted(out, key=lambda k: (-k.median, k.label))


def quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, ``statistics`` inclusive)."""
    at = (len(ordered) - 1) * q
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


_cache: LRU[ImportanceOut] = LRU(_CACHE_SIZE)


def importance(engine: Engine, ref: str | int) -> ImportanceOut:
    """Each searched parameter's importance for the first objective (Optuna's fANOVA on the
    latest ``IMPORTANCE_MAX_TRIALS`` completed trials), or ``ready=False`` with the reason."""
    with read_scope(engine) as s:
        search = repo.resolve_search(s, ref)
        done = (Trial.search_id == search.id) & (Trial.status == TrialStatus.COMPLETED)
        completed = s.scalar(select(func.count()).where(done)) or 0
        study_name, search_id = search.study_name, search.id
        objective = objectives_of(search.spec)[0].metric
    if completed < IMPORTANCE_MIN_TRIALS:
        return ImportanceOut(
            search_id=search_id, completed=completed, used_trials=0, ready=False,
            reason=f"not enough trials yet: {completed} completed, "
            f"importance needs {IMPORTANCE_MIN_TRIALS}",
        )  # fmt: skip
    # The study name is unique per search (a reused id after a delete never hits the cache).
    key = (engine.url.render_as_string(hide_password=True), study_name, completed)
    return _cache.get(key, lambda: _compute(engine, study_name, search_id, completed, objective))


def _compute(
    engine: Engine, study_name: str, search_id: int, completed: int, objective: str
) -> ImportanceOut:
    import optuna

    from search.records.studies import engine_storage

    storage = engine_storage(engine)
    try:
        study_id = storage.get_study_id_from_name(study_name)
        directions = storage.get_study_directions(study_id)
        finished = _latest_trials(storage, study_id)
    except KeyError:
        finished = []
        directions = []
    finally:
        storage.engine.dispose()
    latest = [t for t in finished if t.params and t.values][-IMPORTANCE_MAX_TRIALS:]
    base = {"search_id": search_id, "completed": completed, "objective": objective}
    if len(latest) < IMPORTANCE_MIN_TRIALS or not directions:
        return ImportanceOut(
            **base, used_trials=len(latest), ready=False,
            reason=f"not enough trials with sampled values in the study yet: {len(latest)}",
        )  # fmt: skip
    # An in-memory copy of the latest trials: the evaluator never touches the database.
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" lines
    study = optuna.create_study(directions=directions)
    study.add_trials(latest)
    evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=16, max_depth=16, seed=0)
    found = optuna.importance.get_param_importances(
        study, evaluator=evaluator, target=lambda t: t.values[0], normalize=True
    )
    items = [Importance(param=p, importance=max(float(v), 0.0)) for p, v in found.items()]
    return ImportanceOut(
        **base, used_trials=len(latest), ready=True, evaluator="fanova", items=items
    )


def _latest_trials(storage: Any, study_id: int) -> list[Any]:
    """The latest ``IMPORTANCE_MAX_TRIALS`` completed trials of a study, read without loading
    the others (through Optuna's private tables: :mod:`search.records.optuna_private`)."""
    from search.records.optuna_private import latest_complete_trials

    return latest_complete_trials(storage, study_id, IMPORTANCE_MAX_TRIALS)

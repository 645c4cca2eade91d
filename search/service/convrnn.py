"""The views only ConvRNN search needs (issue 23), over a search's completed trials ranked by its
first objective:

* the feedback-edge map: every candidate edge of the spec with how often the top 10% of trials
  use it against all of them, and the mean objective with and without it;
* the cell switches of RGC cells (gates, bypasses, separable convolutions, nonlinearities: every
  searched parameter of an ``rgc`` cell space that takes a few values), the same way;
* accuracy per unroll step of the best trials (their last epoch), to see how fast each reaches
  its answer.

Every completed trial counts (the edges are read from each arch's ``feedback`` list alone, its
sampled values from ``params``), up to an even spread of ``plots.MAX_SCANNED`` of them; the
per-step curves are read for the best ``STEP_TRIALS``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from search.records import repository as repo
from search.records.db import Search, Trial, TrialMetric, read_scope
from search.records.leaderboard import default_sort, objectives_of, parse_sort
from search.records.lru import LRU
from search.records.param_filters import choices, search_domains, show
from search.service.plots import even_spread
from space.spec import spec_from_data
from space.status import TrialStatus

TOP_SHARE = 0.1
STEP_TRIALS = 10


class Usage(BaseModel):
    """How often the top trials and all trials use a feature, and the objective with and
    without it (means over the completed trials)."""

    top_count: int
    top_share: float = Field(description="Of the top 10% of completed trials")
    all_count: int
    all_share: float = Field(description="Of the completed trials")
    mean_with: float | None
    mean_without: float | None
    effect: float | None = Field(description="mean_with - mean_without")


class EdgeUsage(Usage):
    source: str
    target: str


class SwitchUsage(Usage):
    label: str = Field(description="The sampled parameter")
    value: str = Field(description="One of its values, as a filter writes it")


class StepCurve(BaseModel):
    trial: int
    value: float = Field(description="The first objective")
    val_acc_per_step: list[float | None] = Field(description="Its last epoch's, per time step")


class ConvRNNViews(BaseModel):
    search_id: int
    metric: str
    goal: str
    completed: int = Field(description="Completed trials with the first objective")
    top: int = Field(description="How many make the top 10% (at least one)")
    layers: list[str] = Field(description="The backbone's layers in order (the graph's nodes)")
    edges: list[EdgeUsage] = Field(description="Every candidate feedback edge of the spec")
    switches: list[SwitchUsage] = Field(description="Each value of each searched RGC switch")
    steps: list[StepCurve] = Field(description="The best trials, best first")
    sampled: bool = Field(
        description="Over an even spread of 20,000 of the completed trials (more there are)"
    )


# The views change only when a trial completes: kept per (database, study, completed count).
_cache: LRU[ConvRNNViews] = LRU(32)


def convrnn_views(engine: Engine, ref: str | int) -> ConvRNNViews:
    """The edge map, the RGC switches and the per-step accuracy of the best trials."""
    with read_scope(engine) as s:
        search = repo.resolve_search(s, ref)
        done = (Trial.search_id == search.id) & (Trial.status == TrialStatus.COMPLETED)
        completed = s.scalar(select(func.count()).where(done)) or 0
        s.expunge(search)
    key = (engine.url.render_as_string(hide_password=True), search.study_name, completed)
    return _cache.get(key, lambda: _views(engine, search))


def _views(engine: Engine, search: Search) -> ConvRNNViews:
    with read_scope(engine) as s:
        column, goal, metric = parse_sort(default_sort(objectives_of(search.spec)))
        done = (Trial.search_id == search.id) & (Trial.status == TrialStatus.COMPLETED)
        done &= column.is_not(None)
        spread = even_spread(s, done)
        order = column.desc() if goal == "max" else column.asc()
        rows = s.execute(
            select(Trial.number, column, Trial.arch["feedback"], Trial.params)
            .where(done, *spread)
            .order_by(order, Trial.number)
        ).all()
        values = [float(r[1]) for r in rows]
        steps = _steps(s, search.id, [(r[0], v) for r, v in zip(rows, values, strict=True)])
    top = max(1, math.ceil(TOP_SHARE * len(rows))) if rows else 0
    layers, candidates = _graph(search)
    used = [_edges(r[2]) for r in rows]
    edges = [
        EdgeUsage(source=a, target=b, **_usage([(a, b) in u for u in used], values, top))
        for a, b in candidates
    ]
    switches = [
        SwitchUsage(
            label=label,
            value=text,
            **_usage([_shown(r[3], label) == text for r in rows], values, top),
        )
        for label, texts in _switches(search)
        for text in texts
    ]
    return ConvRNNViews(
        search_id=search.id, metric=metric, goal=goal, completed=len(rows), top=top,
        layers=layers, edges=edges, switches=switches, steps=steps, sampled=bool(spread),
    )  # fmt: skip


def _shown(params: dict[str, Any] | None, label: str) -> str | None:
    if not params or label not in params:
        return None
    return show(params[label])


def _edges(feedback: Any) -> set[tuple[str, str]]:
    if not isinstance(feedback, list):
        return set()
    return {(str(e.get("source")), str(e.get("target"))) for e in feedback if isinstance(e, dict)}


def _usage(uses: Sequence[bool], values: Sequence[float], top: int) -> dict[str, Any]:
    """``uses[i]``: whether trial i (ranked best first, objective ``values[i]``) has it."""
    n = len(uses)
    with_ = [v for v, u in zip(values, uses, strict=True) if u]
    without = [v for v, u in zip(values, uses, strict=True) if not u]
    top_count = sum(uses[:top])
    mean_with, mean_without = _mean(with_), _mean(without)
    return {
        "top_count": top_count,
        "top_share": top_count / top if top else 0.0,
        "all_count": len(with_),
        "all_share": len(with_) / n if n else 0.0,
        "mean_with": mean_with,
        "mean_without": mean_without,
        "effect": None if mean_with is None or mean_without is None else mean_with - mean_without,
    }


def _mean(values: Iterable[float]) -> float | None:
    kept = list(values)
    return sum(kept) / len(kept) if kept else None


def _graph(search: Search) -> tuple[list[str], list[tuple[str, str]]]:
    spec = spec_from_data(search.spec, source=f"search {search.id}")
    layers = [layer.name for layer in spec.layers]
    return layers, [(str(e.source), str(e.target)) for e in spec.edge_candidates()]


def _switches(search: Search) -> list[tuple[str, list[str]]]:
    """The searched parameters of RGC cell spaces that take a few values, with those values."""
    found = []
    for label, domain in search_domains(search).items():
        picked = choices(domain)
        if ".rgc." in f".{label}." and picked is not None:
            found.append((label, [show(c) for c in picked]))
    return found


def _steps(s: Session, search_id: int, ranked: list[tuple[int, float]]) -> list[StepCurve]:
    best = ranked[:STEP_TRIALS]
    if not best:
        return []
    numbers = [n for n, _ in best]
    stmt = (
        select(Trial.number, TrialMetric.epoch, TrialMetric.val_acc_per_step)
        .join(TrialMetric, TrialMetric.trial_id == Trial.id)
        .where(Trial.search_id == search_id, Trial.number.in_(numbers))
        .order_by(TrialMetric.epoch)
    )
    last: dict[int, list[Any]] = {}
    for number, _, per_step in s.execute(stmt):
        if per_step:
            last[number] = per_step
    return [
        StepCurve(trial=n, value=v, val_acc_per_step=[_finite(a) for a in last[n]])
        for n, v in best
        if n in last
    ]


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None

"""Pareto flags of a search's completed trials, kept current as trials finish.

With one objective the front is the optimum: every completed trial tied for the best value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from search.records.db import Trial
from space import trial_fields
from space.status import TrialStatus

Goal = Literal["max", "min"]


def objective_column(metric: str) -> str:
    """The trial column holding an objective's values (UnknownField for a name that is no
    objective: never a silent stand-in)."""
    return trial_fields.objective(metric).stored


class Ranked(Protocol):
    """An objective with its goal settled (``space.spec.Objective`` is one)."""

    @property
    def metric(self) -> str: ...

    @property
    def direction(self) -> Goal: ...


def dominates(a: Sequence[float], b: Sequence[float], goals: Sequence[Goal]) -> bool:
    """``a`` is at least as good as ``b`` in every objective and better in one."""
    better = False
    for x, y, goal in zip(a, b, goals, strict=True):
        if goal == "min":
            x, y = -x, -y
        if x < y:
            return False
        if x > y:
            better = True
    return better


def pareto_mask(points: Sequence[Sequence[float]], goals: Sequence[Goal]) -> list[bool]:
    """True for every point no other point dominates (ties on all objectives all stay)."""
    # Sort so that a dominator always comes before what it dominates; then each point is checked
    # only against the front found so far (the front is small in practice).
    signs = [1.0 if g == "max" else -1.0 for g in goals]

    def goodness_desc(i: int) -> tuple[float, ...]:
        return tuple(-s * v for s, v in zip(signs, points[i], strict=True))

    order = sorted(range(len(points)), key=goodness_desc)
    front: list[int] = []
    mask = [False] * len(points)
    for i in order:
        if not any(dominates(points[j], points[i], goals) for j in front):
            front.append(i)
            mask[i] = True
    return mask


def objective_values(trial: Trial, objectives: Sequence[Ranked]) -> list[float] | None:
    values = [getattr(trial, objective_column(o.metric)) for o in objectives]
    if any(v is None for v in values):
        return None
    return [float(v) for v in values]


def update_pareto(session: Session, search_id: int, objectives: Sequence[Ranked]) -> int:
    """Recompute the Pareto flags of a search's completed trials; returns the front's size."""
    if not objectives:
        return 0
    columns = [getattr(Trial, objective_column(o.metric)) for o in objectives]
    rows = session.execute(
        select(Trial.id, Trial.pareto, *columns).where(
            Trial.search_id == search_id,
            Trial.status == TrialStatus.COMPLETED,
            and_(*(c.is_not(None) for c in columns)),
        )
    ).all()
    points = [[float(v) for v in row[2:]] for row in rows]
    mask = pareto_mask(points, [o.direction for o in objectives])
    wanted = {row[0] for row, on in zip(rows, mask, strict=True) if on}
    for trial_id in (row[0] for row in rows if bool(row[1]) != (row[0] in wanted)):
        session.execute(update(Trial).where(Trial.id == trial_id).values(pareto=trial_id in wanted))
    # Trials that left the completed set (never, today) must not keep a stale flag.
    session.execute(
        update(Trial)
        .where(
            Trial.search_id == search_id,
            Trial.status != TrialStatus.COMPLETED,
            Trial.pareto.is_(True),
        )
        .values(pareto=False)
    )
    return len(wanted)


def add_to_pareto(session: Session, trial: Trial, objectives: Sequence[Ranked]) -> bool:
    """Flag one newly completed trial against the current front (no full recompute).

    Exact: a point dominated by anything is dominated by a front member (dominance is
    transitive), so comparing with the front alone decides; front members the new point
    dominates lose their flag. Returns whether the trial is on the front.
    """
    if not objectives:
        return False
    point = objective_values(trial, objectives)
    if point is None or trial.status != TrialStatus.COMPLETED:
        return False
    goals = [o.direction for o in objectives]
    front = session.scalars(
        select(Trial).where(
            Trial.search_id == trial.search_id, Trial.pareto.is_(True), Trial.id != trial.id
        )
    ).all()
    for other in front:
        values = objective_values(other, objectives)
        if values is not None and dominates(values, point, goals):
            trial.pareto = False
            return False
    for other in front:
        values = objective_values(other, objectives)
        if values is None or dominates(point, values, goals):
            other.pareto = False
    trial.pareto = True
    return True

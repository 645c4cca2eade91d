"""What the search page plots: accuracy against parameters (against the neural fit when that is
an objective) for the Pareto front and the trials of the page shown (never every trial: a
search may hold 100k), the best value so far and the accuracy per cell kind (summaries the
service computes; parameter importance is fetched by the page's script)."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from api.web.charts import Point, Spread, range_chart, scatter, step_chart
from search.service import LeaderboardPage, SearchCharts, SearchOut, TrialOut


def front_plot(
    search_id: int,
    front: LeaderboardPage,
    board: LeaderboardPage,
    neural: NeuralAxis | None = None,
) -> Markup | None:
    """The scatter, or None when no shown trial has both an accuracy and an x value: the
    parameters (log scale) or, for a search with a neural_fit objective (``neural``), the fit,
    the space its front is drawn in."""
    seen: dict[int, TrialOut] = {t.trial: t for t in board.items}
    seen.update({t.trial: t for t in front.items})
    on_front = {t.trial for t in front.items}
    points = [
        Point(
            x=x,
            y=t.val_acc,
            href=f"/searches/{search_id}/trials/{t.trial}",
            label=f"trial {t.trial}: val_acc {t.val_acc:.4f}, " + _x_label(t, neural),
            front=t.trial in on_front,
        )
        for t in seen.values()
        if t.val_acc is not None and (x := _x_value(t, neural)) is not None
    ]
    if not points:
        return None
    if neural is not None:
        title = f"Validation accuracy against {neural.title}"
        return scatter(points, title=title, x_label=neural.title, y_label="val acc", log_x=False)
    return scatter(
        points,
        title="Validation accuracy against parameters (Pareto front and this page's trials)",
        x_label="parameters (log scale)",
        y_label="val acc",
    )


@dataclass(frozen=True)
class NeuralAxis:
    """The neural fit as the scatter's x axis; ``region`` as the service names it."""

    region: str | None

    @property
    def title(self) -> str:
        return f"neural fit ({self.region})" if self.region else "neural fit"


def neural_axis(search: SearchOut, charts: SearchCharts) -> NeuralAxis | None:
    """The neural fit axis when one of the search's objectives is neural_fit, else None."""
    if not any(o.metric == "neural_fit" for o in search.objectives):
        return None
    return NeuralAxis(charts.neural_region)


def _x_value(t: TrialOut, neural: NeuralAxis | None) -> float | None:
    if neural is not None:
        return t.neural_fit
    return None if t.params is None else float(t.params)


def _x_label(t: TrialOut, neural: NeuralAxis | None) -> str:
    if neural is not None:
        return f"neural_fit {t.neural_fit:.4f}"
    return f"{t.params:,} params"


# More cell-kind combinations than this would make the chart a wall: the best medians are shown.
MAX_KIND_ROWS = 12


def best_plot(charts: SearchCharts) -> Markup | None:
    """The first objective's best so far over trial number, or None before any completed."""
    best = charts.best_so_far
    if not best.points:
        return None
    steps = [(float(p.trial), p.value) for p in best.points]
    return step_chart(
        steps,
        float(best.last_trial if best.last_trial is not None else steps[-1][0]),
        title=f"Best {best.metric} so far ({best.goal}) over trial number",
        x_label="trial number",
        y_label=best.metric,
        chart_id="chart-best",
    )


def cells_plot(charts: SearchCharts) -> Markup | None:
    """Validation accuracy per cell-kind combination (min, quartiles, max), or None."""
    if not charts.by_cells:
        return None
    rows = [
        Spread(k.label, k.count, k.min, k.q1, k.median, k.q3, k.max)
        for k in charts.by_cells[:MAX_KIND_ROWS]
    ]
    return range_chart(
        rows,
        title="Validation accuracy per cell-kind combination (min, quartiles, median, max)",
        x_label="best val acc",
        chart_id="chart-cells",
    )

"""What the search page plots: accuracy against parameters for the Pareto front and the
trials of the page shown (never every trial: a search may hold 100k), the best value so far and
the accuracy per cell kind (summaries the service computes; parameter importance is fetched by
the page's script)."""

from __future__ import annotations

from markupsafe import Markup

from api.web.charts import Point, Spread, range_chart, scatter, step_chart
from search.service.charts import SearchCharts
from search.service.schemas import LeaderboardPage, TrialOut


def front_plot(search_id: int, front: LeaderboardPage, board: LeaderboardPage) -> Markup | None:
    """The scatter, or None when no shown trial has both an accuracy and a size."""
    seen: dict[int, TrialOut] = {t.trial: t for t in board.items}
    seen.update({t.trial: t for t in front.items})
    on_front = {t.trial for t in front.items}
    points = [
        Point(
            x=float(t.params),
            y=t.val_acc,
            href=f"/searches/{search_id}/trials/{t.trial}",
            label=f"trial {t.trial}: val_acc {t.val_acc:.4f}, {t.params:,} params",
            front=t.trial in on_front,
        )
        for t in seen.values()
        if t.val_acc is not None and t.params is not None
    ]
    if not points:
        return None
    return scatter(
        points,
        title="Validation accuracy against parameters (Pareto front and this page's trials)",
        x_label="parameters (log scale)",
        y_label="val acc",
    )


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

"""What the search page plots: accuracy against parameters for the Pareto front and the
trials of the page shown (never every trial: a search may hold 100k)."""

from __future__ import annotations

from markupsafe import Markup

from api.web.charts import Point, scatter
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

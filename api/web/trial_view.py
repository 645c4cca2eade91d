"""What the trial page shows: the architecture drawing, the curves, the values."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from api.web.charts import Series, line_chart
from api.web.heatmap import neural_heatmaps, neural_summary
from search.service import TrialDetail
from space.arch import arch_from_data
from space.errors import SpecError
from space.graph_svg import render_svg


def diagram(arch: dict[str, Any]) -> tuple[Markup | None, int, int]:
    """The layer graph of ``convnas arch graph`` (our own SVG: every text is escaped there),
    with the number of layers and feedback edges; None when the stored arch does not load."""
    try:
        built = arch_from_data(arch, "trial arch")
    except SpecError:
        return None, 0, 0
    svg = render_svg(built)
    start = svg.find("<svg")
    return Markup(svg[start:]), len(built.layers), len(built.feedback)  # noqa: S704


def curves(detail: TrialDetail, prefix: str = "chart") -> list[Markup]:
    """Loss and accuracy per epoch, then accuracy over unroll time steps (one line per epoch)."""
    history = detail.history
    charts: list[Markup] = []
    if not history:
        return charts
    losses = [
        Series("train loss", [(e.epoch, e.train_loss) for e in history]),
        Series("val loss", [(e.epoch, e.val_loss) for e in history]),
    ]
    if any(y is not None for s in losses for _, y in s.points):
        charts.append(
            line_chart(losses, title="Loss per epoch", x_label="epoch", y_label="loss",
                       chart_id=f"{prefix}-loss")
        )  # fmt: skip
    acc = [Series("val acc", [(e.epoch, e.val_acc) for e in history])]
    charts.append(
        line_chart(acc, title="Validation accuracy per epoch", x_label="epoch",
                   y_label="accuracy", chart_id=f"{prefix}-acc")
    )  # fmt: skip
    steps = [
        Series(f"epoch {e.epoch}", [(t + 1, v) for t, v in enumerate(e.val_acc_per_step)])
        for e in history
        if e.val_acc_per_step
    ]
    if steps:
        charts.append(
            line_chart(steps, title="Validation accuracy over unroll time steps",
                       x_label="time step", y_label="accuracy", chart_id=f"{prefix}-steps")
        )  # fmt: skip
    return charts


def trial_context(detail: TrialDetail, prefix: str = "chart") -> dict[str, Any]:
    svg, layers, feedback = diagram(detail.arch)
    neural = getattr(detail, "neural", None)  # the recorded neural fit table (issue 14)
    return {
        "trial": detail,
        "diagram": svg,
        "layers": layers,
        "feedback": feedback,
        "charts": curves(detail, prefix),
        "neural_maps": neural_heatmaps(neural, f"{prefix}-neural"),
        "neural": neural_summary(neural),
    }

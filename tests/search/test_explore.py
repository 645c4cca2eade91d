"""The interactive plots' data (issue 23), both backends: every trial's sampled values and
objectives column-wise, bounded at a large search (the best and the running always kept), the
EDF over every completed trial, the validation curves and the contour grid, each checked
against the recorded rows."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from search import service as svc
from search.errors import InvalidRequest
from search.records.lru import LRU
from search.service import convrnn as convrnn_module
from search.service import plots as explore_module
from tests.search.explore_helpers import EPOCHS, accuracy, populate_quickstart, sampled

COUNT = 44


@pytest.fixture
def search(engine: Engine) -> int:
    return populate_quickstart(engine, COUNT)


def test_every_trial_is_a_row_with_its_sampled_values(engine: Engine, search: int) -> None:
    out = svc.explore(engine, search)
    recorded = sampled(engine, search)
    assert out.total == COUNT and not out.sampled and out.trial == sorted(recorded)
    axes = {a.label: a for a in out.params}
    assert axes["training.lr"].kind == "number" and axes["training.lr"].log
    assert axes["cells.main.kind"].choices == ["rgc", "lstm", "timedecay"]
    assert axes["layers.conv3.present"].choices == ["false", "true"]
    for i, number in enumerate(out.trial):
        status, params = recorded[number]
        assert out.status[i] == status
        assert out.sampled_values["training.lr"][i] == pytest.approx(params["training.lr"])
        kind = out.sampled_values["cells.main.kind"][i]
        assert (
            kind is not None
            and axes["cells.main.kind"].choices[int(kind)] == params["cells.main.kind"]
        )
        depth = out.sampled_values["cells.main.rgc.cell_depth"][i]
        assert (depth is None) == ("cells.main.rgc.cell_depth" not in params)
        trained = status != "failed"
        want = accuracy(params) if trained else None
        assert out.values["val_acc"][i] == (pytest.approx(want) if trained else None)
    # Times count from the first start; a running trial has no end yet.
    assert out.started[0] == 0 and out.finished[0] == pytest.approx(3)
    running = [i for i, s in enumerate(out.status) if s == "running"]
    assert running and all(out.finished[i] is None for i in running)


def test_the_edf_covers_every_completed_trial(engine: Engine, search: int) -> None:
    out = svc.explore(engine, search)
    done = sorted(
        accuracy(p) for status, p in sampled(engine, search).values() if status == "completed"
    )
    values = [v for v, _ in out.edf]
    assert values == sorted(values) and values[0] == pytest.approx(done[0])
    assert out.edf[-1] == (pytest.approx(done[-1]), 1.0)
    assert len(out.edf) == len(done)  # fewer than EDF_POINTS: one point each


def test_a_large_search_sends_the_best_the_running_and_a_spread(
    engine: Engine, search: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(explore_module, "MAX_ROWS", 20)
    monkeypatch.setattr(explore_module, "KEEP_BEST", 5)
    out = svc.explore(engine, search)
    assert out.sampled and out.total == COUNT and len(out.trial) <= 20
    recorded = sampled(engine, search)
    ranked = sorted(
        (n for n, (s, _) in recorded.items() if s != "failed"),
        key=lambda n: (-accuracy(recorded[n][1]), n),
    )
    assert set(ranked[:5]) <= set(out.trial)
    assert {n for n, (s, _) in recorded.items() if s == "running"} <= set(out.trial)
    # The EDF still counts every completed trial.
    assert len(out.edf) == sum(1 for s, _ in recorded.values() if s == "completed")


def test_the_curves_are_the_recorded_epochs(engine: Engine, search: int) -> None:
    out = svc.curves(engine, search)
    recorded = sampled(engine, search)
    trained = {n for n, (s, _) in recorded.items() if s != "failed"}
    assert {c.trial for c in out.items} == trained and out.total == len(trained)
    for curve in out.items:
        status, params = recorded[curve.trial]
        assert curve.status == status
        assert curve.epochs == list(range(1, len(curve.epochs) + 1))
        assert len(curve.epochs) == {"pruned": 1, "running": 2}.get(status, EPOCHS)
        assert curve.val_acc[-1] == pytest.approx(accuracy(params) * len(curve.epochs) / EPOCHS)
    live = svc.curves(engine, search, "running")
    assert {c.trial for c in live.items} == {n for n, (s, _) in recorded.items() if s == "running"}
    with pytest.raises(InvalidRequest, match="only running"):
        svc.curves(engine, search, "completed")


def test_the_contour_grid_averages_the_completed_trials(engine: Engine, search: int) -> None:
    out = svc.contour(engine, search, "training.lr", "cells.main.kind")
    recorded = sampled(engine, search)
    done = [p for s, p in recorded.values() if s == "completed"]
    assert out.trials == len(done) == sum(map(sum, out.count))
    assert out.y_centers == [0.0, 1.0, 2.0] and len(out.x_centers) == explore_module.GRID
    assert out.x_centers[0] > 0.02 and out.x_centers[-1] < 0.08  # centres of log bins
    for j, kind in enumerate(("rgc", "lstm", "timedecay")):
        row = [accuracy(p) for p in done if p["cells.main.kind"] == kind]
        cells = [(m, c) for m, c in zip(out.mean[j], out.count[j], strict=True) if c]
        assert sum(c for _, c in cells) == len(row)
        assert sum(m * c for m, c in cells) == pytest.approx(sum(row))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("x", "y", "field"),
    [("nope", "training.lr", "x"), ("training.lr", "training.lr", "y"), ("training.lr", "", "y")],
)
def test_a_contour_of_unknown_parameters_is_refused(
    engine: Engine, search: int, x: str, y: str, field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        svc.contour(engine, search, x, y)
    assert caught.value.problems[0].path == field


def test_the_contour_and_the_convrnn_views_read_an_even_spread_of_a_large_search(
    engine: Engine, search: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = svc.contour(engine, search, "training.lr", "cells.main.kind")
    assert not full.sampled and not svc.convrnn_views(engine, search).sampled
    monkeypatch.setattr(explore_module, "MAX_SCANNED", 10)
    monkeypatch.setattr(convrnn_module, "_cache", LRU(4))  # the full views are kept otherwise
    part = svc.contour(engine, search, "training.lr", "cells.main.kind")
    assert part.sampled and 0 < part.trials <= 2 * 10 < full.trials
    views = svc.convrnn_views(engine, search)
    assert views.sampled and 0 < views.completed <= 2 * 10

"""The ConvRNN views (issue 23), both backends: the feedback-edge map's counts against a SQL
count over the stored archs, the top 10% and the objective with and without an edge, the RGC
switches against the recorded values, and the best trials' accuracy per unroll step."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import Engine, select, text

from search import service as svc
from search.records.db import Trial, TrialMetric, session_scope
from tests.search.explore_helpers import accuracy, populate_quickstart, sampled

COUNT = 90


@pytest.fixture
def search(engine: Engine) -> int:
    return populate_quickstart(engine, COUNT)


def edge_count_sql(engine: Engine, search_id: int, source: str, target: str) -> int:
    """Completed trials whose stored arch has the edge, counted by the database itself."""
    if engine.dialect.name == "postgresql":
        has = "arch -> 'feedback' @> CAST(:edge AS jsonb)"
    else:
        has = (
            "EXISTS (SELECT 1 FROM json_each(arch, '$.feedback') "
            "WHERE json_extract(value, '$.source') = :source "
            "AND json_extract(value, '$.target') = :target)"
        )
    edge = f'[{{"source": "{source}", "target": "{target}"}}]'
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM convnas_trials WHERE search_id = :sid "
                    f"AND status = 'completed' AND best_val_acc IS NOT NULL AND {has}"
                ),
                {"sid": search_id, "source": source, "target": target, "edge": edge},
            ).scalar_one()
        )


def _ranked(engine: Engine, search_id: int) -> list[tuple[int, float, set[tuple[str, str]]]]:
    """Completed trials best first: (number, val_acc, edges)."""
    with session_scope(engine) as s:
        rows = s.execute(
            select(Trial.number, Trial.best_val_acc, Trial.arch).where(
                Trial.search_id == search_id, Trial.status == "completed"
            )
        ).all()
    ranked = sorted(rows, key=lambda r: (-r[1], r[0]))
    return [
        (n, acc, {(e["source"], e["target"]) for e in arch["feedback"]}) for n, acc, arch in ranked
    ]


def test_the_edge_map_counts_what_the_database_holds(engine: Engine, search: int) -> None:
    views = svc.convrnn_views(engine, search)
    assert views.layers == ["conv1", "conv2", "conv3"]
    (edge,) = views.edges
    assert (edge.source, edge.target) == ("conv3", "conv2")
    ranked = _ranked(engine, search)
    assert views.completed == len(ranked) and views.top == math.ceil(0.1 * len(ranked))
    assert edge.all_count == edge_count_sql(engine, search, "conv3", "conv2") > 0
    top = ranked[: views.top]
    assert edge.top_count == sum(("conv3", "conv2") in e for _, _, e in top)
    assert edge.top_share == pytest.approx(edge.top_count / views.top)
    assert edge.all_share == pytest.approx(edge.all_count / len(ranked))
    with_ = [a for _, a, e in ranked if ("conv3", "conv2") in e]
    without = [a for _, a, e in ranked if ("conv3", "conv2") not in e]
    assert edge.mean_with == pytest.approx(sum(with_) / len(with_))
    assert edge.effect == pytest.approx(sum(with_) / len(with_) - sum(without) / len(without))


def test_the_rgc_switches_count_the_sampled_values(engine: Engine, search: int) -> None:
    views = svc.convrnn_views(engine, search)
    labels = {(s.label, s.value) for s in views.switches}
    assert ("cells.main.rgc.out_residual", "true") in labels
    assert ("cells.main.rgc.gate_nonlinearity", "tanh") in labels
    assert not any("lstm" in label for label, _ in labels)  # RGC cell spaces only
    recorded = sampled(engine, search)
    done = [p for s, p in recorded.values() if s == "completed"]
    for switch in views.switches:
        want = sum(
            1
            for p in done
            if switch.label in p
            and str(p[switch.label]).lower() == switch.value.replace("null", "none")
        )
        assert switch.all_count == want, switch


def test_the_best_trials_accuracy_per_step(engine: Engine, search: int) -> None:
    views = svc.convrnn_views(engine, search)
    recorded = sampled(engine, search)
    done = sorted(
        (n for n, (s, _) in recorded.items() if s == "completed"),
        key=lambda n: (-accuracy(recorded[n][1]), n),
    )
    assert [c.trial for c in views.steps] == done[:10]
    with session_scope(engine) as s:
        for curve in views.steps:
            last = s.scalars(
                select(TrialMetric.val_acc_per_step)
                .join(Trial)
                .where(Trial.search_id == search, Trial.number == curve.trial)
                .order_by(TrialMetric.epoch.desc())
                .limit(1)
            ).one()
            assert curve.val_acc_per_step == pytest.approx(last)


def test_an_empty_search_has_empty_views(engine: Engine) -> None:
    search = populate_quickstart(engine, 0, name="empty")
    views = svc.convrnn_views(engine, search)
    assert views.completed == views.top == 0 and views.steps == []
    assert all(e.all_count == 0 and e.effect is None for e in views.edges)

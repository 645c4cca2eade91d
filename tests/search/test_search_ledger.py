"""The ledger without Ray: proposals, duplicates, rejections, outcomes told to Optuna, resume."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy import Engine, select

from search.records import repository as repo
from search.records.db import Search, Trial, session_scope
from search.records.lifecycle import create_search
from search.records.pareto import pareto_mask, update_pareto
from search.run.ledger import Ledger
from search.run.progress import Progress, TrialDone
from search.run.study import open_study
from space.spec import SearchSpec
from tests.search.search_helpers import epoch_result, tiny_spec
from tests.search.service_helpers import board

optuna.logging.set_verbosity(optuna.logging.WARNING)


def new_ledger(engine: Engine, url: str, spec: SearchSpec, search_id: int | None = None) -> Ledger:
    if search_id is None:
        search_id = create_search(engine, spec)
    with session_scope(engine) as s:
        search = s.get(Search, search_id)
        assert search is not None
        name, requested = search.study_name, search.requested_trials
    study = open_study(name, spec, url, requested)
    return Ledger(engine, search_id, spec, study)


def trials(engine: Engine, search_id: int) -> list[Trial]:
    with session_scope(engine) as s:
        return list(
            s.scalars(select(Trial).where(Trial.search_id == search_id).order_by(Trial.number))
        )


def train(ledger: Ledger, tune_id: str, accs: list[float], final: str = "completed") -> None:
    for epoch, acc in enumerate(accs, start=1):
        status = final if epoch == len(accs) else "running"
        ledger.report(tune_id, epoch_result(epoch, acc, status))
    ledger.finish(tune_id, None, error=False)


def test_single_arch_space_trains_once_rest_duplicate(engine: Engine, db_url: str) -> None:
    ledger = new_ledger(engine, db_url, tiny_spec(single=True, trials=4))
    first = ledger.propose("t0")
    assert first is not None and first.number == 0
    assert set(first.config) == {"arch", "dataset"}
    # The other three proposals are duplicates of the one in training: no worker for them.
    assert ledger.propose("t1") is None
    assert ledger.exhausted()
    train(ledger, "t0", [0.5, 0.8])
    rows = trials(engine, ledger.search_id)
    assert [r.status for r in rows] == ["completed", "duplicate", "duplicate", "duplicate"]
    assert all(r.duplicate_of == 0 and r.best_val_acc == 0.8 for r in rows[1:])
    assert len({r.config_hash for r in rows}) == 1
    told = ledger.study.get_trials(deepcopy=False)
    assert [t.state for t in told] == [TrialState.COMPLETE] * 4
    assert [t.values for t in told] == [[0.8]] * 4
    # A later duplicate of a finished trial is settled at once with the recorded result.
    with session_scope(engine) as s:
        s.get(Search, ledger.search_id).requested_trials = 5  # type: ignore[union-attr]
    ledger.requested = 5
    assert ledger.propose("t2") is None
    assert trials(engine, ledger.search_id)[-1].status == "duplicate"


def test_over_budget_candidates_are_rejected_and_told_infeasible(
    engine: Engine, db_url: str
) -> None:
    spec = tiny_spec(trials=3, constraints={"max_params": 10})
    ledger = new_ledger(engine, db_url, spec)
    assert ledger.propose("t0") is None
    rows = trials(engine, ledger.search_id)
    assert [r.status for r in rows] == ["rejected"] * 3
    assert all("max_params 10" in (r.error or "") and (r.n_params or 0) > 10 for r in rows)
    for told in ledger.study.get_trials(deepcopy=False):
        assert told.state == TrialState.COMPLETE and told.values == [0.0]
        assert told.constraints["params"] > 0  # what TPE/NSGA-II read as infeasibility


def test_outcomes_failed_diverged_pruned(engine: Engine, db_url: str) -> None:
    ledger = new_ledger(engine, db_url, tiny_spec(trials=4, concurrency=4))
    ids = ["a", "b", "c", "d"]
    proposals = [ledger.propose(t) for t in ids]
    assert all(p is not None for p in proposals)
    train(ledger, "a", [0.4, 0.6])
    ledger.report("b", epoch_result(1, 0.2))
    ledger.report(
        "b",
        {
            "status": "failed",
            "reason": "ValueError: boom",
            "final": True,
            "epoch": 1,
            "val_acc": 0.2,
        },
    )
    ledger.finish("b", None, error=False)
    ledger.report("c", epoch_result(1, 0.1))
    ledger.finish("c", None, error=False)  # stopped by ASHA after epoch 1 of 2
    ledger.finish("d", None, error=True)
    ledger.set_error("d", ledger.number_of("d"), "RuntimeError: worker died")
    rows = {r.number: r for r in trials(engine, ledger.search_id)}
    by_id = {t: rows[p.number] for t, p in zip(ids, proposals, strict=True)}  # type: ignore[union-attr]
    assert by_id["a"].status == "completed" and by_id["a"].values == [0.6]
    assert by_id["b"].status == "failed" and by_id["b"].error == "ValueError: boom"
    assert by_id["b"].epochs == 1 and by_id["b"].best_val_acc == 0.2  # closing report not an epoch
    assert by_id["c"].status == "pruned" and "after epoch 1" in (by_id["c"].error or "")
    assert by_id["d"].status == "failed" and by_id["d"].error == "RuntimeError: worker died"
    states = {t.number: t.state for t in ledger.study.get_trials(deepcopy=False)}
    assert states[by_id["a"].number] == TrialState.COMPLETE
    assert states[by_id["b"].number] == TrialState.FAIL
    assert states[by_id["c"].number] == TrialState.PRUNED
    assert states[by_id["d"].number] == TrialState.FAIL


def test_optuna_gets_a_pruned_trials_last_accuracy_and_no_per_epoch_writes(
    engine: Engine, db_url: str
) -> None:
    ledger = new_ledger(engine, db_url, tiny_spec(trials=2, concurrency=2))
    assert ledger.propose("done") is not None and ledger.propose("cut") is not None
    train(ledger, "done", [0.4, 0.6])
    ledger.report("cut", epoch_result(1, 0.3))
    ledger.finish("cut", epoch_result(1, 0.3), error=False)  # Tune's last result again
    told = {t.number: t for t in ledger.study.get_trials(deepcopy=False)}
    done, cut = told[ledger.numbers["done"]], told[ledger.numbers["cut"]]
    # A completed trial's value is its best accuracy; per-epoch values are never written.
    assert done.state == TrialState.COMPLETE and done.values == [0.6]
    assert done.intermediate_values == {}
    # A pruned trial is ranked by its last epoch's accuracy, told once when it ends.
    assert cut.state == TrialState.PRUNED and cut.intermediate_values == {1: 0.3}
    assert cut.value == 0.3
    with session_scope(engine) as s:
        row = repo.get_trial(s, ledger.search_id, ledger.numbers["cut"])
        assert [(m.epoch, m.val_acc) for m in row.metrics] == [(1, 0.3)]


def test_resume_after_crash_reaches_the_exact_count(engine: Engine, db_url: str) -> None:
    spec = tiny_spec(trials=3, concurrency=2)
    first = new_ledger(engine, db_url, spec)
    assert first.propose("a") is not None and first.propose("b") is not None
    first.report("a", epoch_result(1, 0.3))
    train(first, "b", [0.5, 0.7])
    # The driver dies here (kill -9): "a" is left running in the records and in Optuna.
    second = new_ledger(engine, db_url, spec, first.search_id)
    assert second.reconcile() == 1
    rows = trials(engine, first.search_id)
    assert [r.status for r in rows] == ["interrupted", "completed"]
    assert second.study.trials[0].state == TrialState.FAIL
    assert second.slots_left() == 2
    for tune_id in ("c", "d"):
        assert second.propose(tune_id) is not None
    assert second.propose("e") is None
    train(second, "c", [0.4, 0.5])
    train(second, "d", [0.6, 0.9])
    with session_scope(engine) as s:
        assert repo.finished_count(s, first.search_id) == 3
        assert len(board(s, first.search_id)) == 3
    numbers = [r.number for r in trials(engine, first.search_id)]
    assert numbers == sorted(set(numbers)) == [0, 1, 2, 3]  # nothing recorded twice


def test_multi_objective_marks_pareto_trials(engine: Engine, db_url: str) -> None:
    objectives: list[dict[str, Any]] = [
        {"metric": "val_acc", "goal": "max"},
        {"metric": "params", "goal": "min"},
    ]
    spec = tiny_spec(trials=4, concurrency=4, objectives=objectives, sampler="nsga2")
    ledger = new_ledger(engine, db_url, spec)
    ids = ["a", "b", "c", "d"]
    for t in ids:
        assert ledger.propose(t) is not None
    for t, acc in zip(ids, [0.5, 0.9, 0.7, 0.2], strict=True):
        train(ledger, t, [acc / 2, acc])
    rows = trials(engine, ledger.search_id)
    points = [[r.best_val_acc or 0.0, float(r.n_params or 0)] for r in rows]
    expected = pareto_mask(points, ["max", "min"])
    assert [r.pareto for r in rows] == expected and any(expected)
    for told in ledger.study.get_trials(deepcopy=False):
        assert told.state == TrialState.COMPLETE and len(told.values) == 2


def test_progress_counts_eta_and_trial_lines(engine: Engine, db_url: str) -> None:
    ledger = new_ledger(engine, db_url, tiny_spec(trials=3, concurrency=2))
    events: list[TrialDone] = []
    ledger.on_trial_done = events.append
    ledger.propose("a")
    ledger.propose("b")
    train(ledger, "a", [0.2, 0.4])
    # "a" trained for 10 s; "b" has been training for 4 s.
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        a = repo.get_trial(s, ledger.search_id, ledger.numbers["a"])
        assert a.finished_at is not None
        a.started_at = a.finished_at - timedelta(seconds=10)
        b = repo.get_trial(s, ledger.search_id, ledger.numbers["b"])
        b.started_at = now - timedelta(seconds=4)
    progress = ledger.progress(elapsed=10.0, now=now)
    assert (progress.finished, progress.running, progress.requested) == (1, 1, 3)
    assert progress.best_val_acc == 0.4
    # Left: b's remaining 6 s and one more 10 s trial, two at a time.
    assert progress.eta == pytest.approx(8.0, abs=0.5)
    assert "1/3 done, 1 running" in progress.line()
    # Nothing happens for a while: the estimate shrinks, never grows.
    etas = [
        ledger.progress(elapsed=10.0 + dt, now=now + timedelta(seconds=dt)).eta
        for dt in (0, 3, 6, 20, 60)
    ]
    assert all(x is not None for x in etas)
    assert etas == sorted(etas, reverse=True)  # type: ignore[type-var]
    # One line per settled trial: status, val_acc, params, seconds.
    [done] = events
    assert (done.number, done.status, done.val_acc) == (ledger.numbers["a"], "completed", 0.4)
    line = done.line()
    assert f"trial {done.number}: completed, val_acc 0.4000" in line
    assert "params" in line and line.endswith("s")


def test_eta_follows_the_finishing_rate_when_slots_wait_on_the_driver() -> None:
    """300 half-second trials finished in 100 s with 16 slots: the slots were mostly idle, so
    the 700 left take about 233 s more, not 700 * 0.5 / 16 = 22 s."""
    progress = Progress(
        search_id=1, requested=1000, finished=300, running=16, failed=0, duplicate=0,
        rejected=0, best_value=None, best_trial=None, elapsed=100.0, finished_this_run=300,
        mean_trial_seconds=0.5, running_elapsed=(0.2,) * 16, concurrency=16,
    )  # fmt: skip
    assert progress.eta == pytest.approx(700 * 100 / 300)
    # Before a round has finished in this run, only the work estimate.
    early = replace(progress, finished_this_run=10)
    assert early.eta == pytest.approx((16 * 0.3 + 684 * 0.5) / 16)


def test_trial_lines_for_duplicates(engine: Engine, db_url: str) -> None:
    ledger = new_ledger(engine, db_url, tiny_spec(single=True, trials=3))
    events: list[TrialDone] = []
    ledger.on_trial_done = events.append
    ledger.propose("t0")
    assert ledger.propose("t1") is None  # two duplicates of t0, waiting for its result
    train(ledger, "t0", [0.5, 0.8])
    assert [(e.status, e.val_acc) for e in events] == [
        ("completed", 0.8),
        ("duplicate", 0.8),
        ("duplicate", 0.8),
    ]
    assert "same config as trial 0" in events[1].line()


def test_single_objective_pareto_is_the_optimum(engine: Engine, db_url: str) -> None:
    """One objective: the Pareto set is the best trial(s), ties included (brute force agrees)."""
    ledger = new_ledger(engine, db_url, tiny_spec(trials=4, concurrency=4))
    ids = ["a", "b", "c", "d"]
    proposals = [ledger.propose(t) for t in ids]
    assert all(p is not None for p in proposals)
    for t, acc in zip(ids, [0.5, 0.9, 0.3, 0.9], strict=True):
        train(ledger, t, [acc / 2, acc])
    rows = [r for r in trials(engine, ledger.search_id) if r.status == "completed"]
    expected = pareto_mask([[r.best_val_acc or 0.0] for r in rows], ["max"])
    assert [r.pareto for r in rows] == expected
    assert sorted(r.best_val_acc for r in rows if r.pareto) == [0.9] * sum(
        r.best_val_acc == 0.9 for r in rows
    )
    with session_scope(engine) as s:
        assert update_pareto(s, ledger.search_id, ledger.objectives) == sum(expected)
        front = board(s, ledger.search_id, pareto=True)
    assert front and all(t.best_val_acc == 0.9 for t in front)

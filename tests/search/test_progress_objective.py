"""`convnas search run` progress names the search's first objective (issue 14): a neural_fit
search prints ``best neural_fit ...`` and each finished trial's fit; a val_acc search prints as
before. Through the real ledger on the test databases, no Ray."""

from __future__ import annotations

from typing import Any

import optuna
from sqlalchemy import Engine

from search.run.ledger import Ledger
from search.run.progress import TrialDone
from space.spec import spec_from_data
from tests.search.search_helpers import epoch_result, spec_data
from tests.search.test_search_ledger import new_ledger, train

optuna.logging.set_verbosity(optuna.logging.WARNING)


def neural_ledger(engine: Engine, db_url: str) -> Ledger:
    data = spec_data(
        trials=3, concurrency=3,
        objectives=[{"metric": "neural_fit", "region": "IT"}, {"metric": "val_acc"}],
    )  # fmt: skip
    data["neural"] = {"data": "neural:/nonexistent/recorded.npz", "layers": "all"}
    return new_ledger(engine, db_url, spec_from_data(data))


def train_with_fit(ledger: Ledger, tune_id: str, acc: float, fit: float) -> None:
    """Two epochs (no fit yet), then the final result with the fit, as workers.trainable does."""
    ledger.report(tune_id, {**epoch_result(1, acc / 2), "neural_fit": None})
    final: dict[str, Any] = {**epoch_result(2, acc, "completed"), "neural_fit": fit}
    ledger.report(tune_id, final)
    ledger.finish(tune_id, None, error=False)


def test_a_neural_search_names_its_fit(engine: Engine, db_url: str) -> None:
    ledger = neural_ledger(engine, db_url)
    events: list[TrialDone] = []
    ledger.on_trial_done = events.append
    for tune_id in ("a", "b", "c"):
        assert ledger.propose(tune_id) is not None
    # b has the best accuracy, c the best fit: the progress line follows the objective, the fit
    train_with_fit(ledger, "a", 0.6, 0.5)
    train_with_fit(ledger, "b", 0.9, 0.7)
    train_with_fit(ledger, "c", 0.4, 0.9951)
    progress = ledger.progress(elapsed=5.0)
    assert progress.best_metric == "neural_fit" and progress.best_val_acc is None
    line = progress.line()
    assert f"best neural_fit 0.9951 (trial {ledger.numbers['c']})" in line, line
    assert "val_acc" not in line
    assert [e.neural_fit for e in events] == [0.5, 0.7, 0.9951]
    last = events[-1].line()
    assert f"trial {ledger.numbers['c']}: completed, val_acc 0.4000, neural_fit 0.9951" in last


def test_a_val_acc_search_prints_as_before(engine: Engine, db_url: str) -> None:
    data = spec_data(trials=2, concurrency=2)
    ledger = new_ledger(engine, db_url, spec_from_data(data))
    events: list[TrialDone] = []
    ledger.on_trial_done = events.append
    ledger.propose("a")
    ledger.propose("b")
    train(ledger, "a", [0.2, 0.4])
    train(ledger, "b", [0.3, 0.8])
    line = ledger.progress(elapsed=5.0).line()
    assert f"| best val_acc 0.8000 (trial {ledger.numbers['b']}) |" in line, line
    assert "neural_fit" not in line
    assert all(e.neural_fit is None and "neural_fit" not in e.line() for e in events)


def test_a_params_first_search_names_params_as_a_count(engine: Engine, db_url: str) -> None:
    data = spec_data(trials=2, concurrency=2, objectives=[{"metric": "params"}])
    ledger = new_ledger(engine, db_url, spec_from_data(data))
    ledger.propose("a")
    ledger.propose("b")
    train(ledger, "a", [0.2, 0.4])
    train(ledger, "b", [0.3, 0.8])
    progress = ledger.progress(elapsed=5.0)
    assert progress.best_metric == "params" and progress.best_value is not None
    assert f"best params {round(progress.best_value):,} (trial" in progress.line()

"""Where and how a trial ran, and its neural fit (migration 0005): the ledger records the result
keys of the workers contract, every way in shows them (both backends; no Ray)."""

from __future__ import annotations

import csv
import io
import json

import optuna
import sqlalchemy as sa
from sqlalchemy import Engine, inspect, select
from typer.testing import CliRunner

from api.cli import app
from search import service
from search.records.db import Search, Trial, TrialMetric, create_db_engine, session_scope, utcnow
from search.records.leaderboard import TrialQuery
from search.records.lifecycle import create_search
from search.records.migrations import downgrade, upgrade
from search.run.ledger import Ledger
from search.run.study import open_study
from search.service.schemas import BOARD_COLUMNS, shown_columns
from search.service.trials import trials_csv
from space.cost import human_bytes
from tests.search.search_helpers import epoch_result, tiny_spec
from tests.search.service_helpers import populate

optuna.logging.set_verbosity(optuna.logging.WARNING)
runner = CliRunner()

TABLE = {"layers": ["conv1"], "bins": [[70, 170]], "fit": [[{"IT": 0.4}]], "seconds": 1.5}


def new_ledger(engine: Engine, url: str, trials: int = 3) -> Ledger:
    spec = tiny_spec(trials=trials)
    search_id = create_search(engine, spec)
    with session_scope(engine) as s:
        search = s.get(Search, search_id)
        assert search is not None
        name, requested = search.study_name, search.requested_trials
    return Ledger(engine, search_id, spec, open_study(name, spec, url, requested))


def trial_row(engine: Engine, search_id: int, number: int) -> Trial:
    with session_scope(engine) as s:
        row = s.scalars(
            select(Trial).where(Trial.search_id == search_id, Trial.number == number)
        ).one()
        s.expunge(row)
        return row


def test_migration_adds_the_columns_and_the_fit_index(engine: Engine) -> None:
    columns = {c["name"]: c for c in inspect(engine).get_columns("convnas_trials")}
    for name in ("gpu_share", "memory_estimate", "peak_memory", "neural_fit", "neural"):
        assert name in columns and columns[name]["nullable"]
    indexes = {ix["name"]: ix for ix in inspect(engine).get_indexes("convnas_trials")}
    fit = indexes["ix_convnas_trials_search_neural_fit"]
    assert fit["column_names"][:1] == ["search_id"] and "number" in fit["column_names"]


def test_ledger_records_the_reported_facts_and_the_last_result_wins(
    engine: Engine, db_url: str
) -> None:
    ledger = new_ledger(engine, db_url)
    proposal = ledger.propose("t0")
    assert proposal is not None
    ledger.started("t0", None)
    first = {
        **epoch_result(1, 0.5),
        "node": "127.0.0.1/ab12cd34",
        "gpu_share": 0.25,
        "memory_estimate": 3_000_000,
        "peak_memory": 1_000_000,
        "neural_fit": None,
    }
    ledger.report("t0", first)
    row = trial_row(engine, ledger.search_id, proposal.number)
    assert (row.node, row.gpu_share, row.memory_estimate, row.peak_memory) == (
        "127.0.0.1/ab12cd34",
        0.25,
        3_000_000,
        1_000_000,
    )
    assert row.neural_fit is None and row.neural is None
    # The last epoch reports a higher peak, the fit and its table; no gpu_share this time (the
    # column keeps what was reported before).
    last = {
        **epoch_result(2, 0.7, "completed"),
        "peak_memory": 2_500_000.0,
        "peak_reserved": 4_194_304,
        "neural_fit": 0.42,
        "neural": TABLE,
    }
    ledger.report("t0", last)
    ledger.finish("t0", last, error=False)
    row = trial_row(engine, ledger.search_id, proposal.number)
    assert row.status == "completed"
    assert (row.gpu_share, row.memory_estimate, row.peak_memory) == (0.25, 3_000_000, 2_500_000)
    assert row.peak_reserved == 4_194_304  # the allocator's reserved peak, beside the allocated
    assert row.neural_fit == 0.42 and row.neural == TABLE
    with session_scope(engine) as s:
        extras = [
            m.extra for m in s.scalars(select(TrialMetric).where(TrialMetric.trial_id == row.id))
        ]
    # The table is kept once, on the trial, not in every epoch's extra metrics.
    assert extras and all("neural" not in e for e in extras)
    assert extras[-1]["neural_fit"] == 0.42


def test_a_closing_result_sets_the_facts_and_bad_values_become_null(
    engine: Engine, db_url: str
) -> None:
    ledger = new_ledger(engine, db_url)
    proposal = ledger.propose("t0")
    assert proposal is not None
    ledger.report("t0", {**epoch_result(1, 0.3), "peak_memory": 10, "neural_fit": 0.1})
    # A closing report (its status is not an epoch's) is read by finish(): it still wins.
    closing = {
        "status": "out_of_memory",
        "error": "out of memory: tried to allocate",
        "peak_memory": 99,
        "gpu_share": float("nan"),
        "neural_fit": float("inf"),
        "neural": "not a table",
    }
    ledger.finish("t0", closing, error=False)
    row = trial_row(engine, ledger.search_id, proposal.number)
    assert row.peak_memory == 99
    assert row.gpu_share is None and row.neural_fit is None and row.neural is None


def _facts(engine: Engine, search_id: int) -> None:
    """Trial 1 trained on a GPU with a fit, trial 0 on CPU without one (populate's trials)."""
    with session_scope(engine) as s:
        rows = {t.number: t for t in s.scalars(select(Trial).where(Trial.search_id == search_id))}
        rows[0].node, rows[0].gpu_share = "10.0.0.1/aaaa1111", 0.0
        rows[1].node, rows[1].gpu_share = "10.0.0.2/bbbb2222", 0.5
        rows[1].memory_estimate, rows[1].peak_memory = 2 * 2**20, 3 * 2**20
        rows[1].neural_fit, rows[1].neural = 0.61, TABLE


def test_service_exposes_the_facts_and_sorts_by_neural_fit(engine: Engine) -> None:
    sid = populate(engine)
    _facts(engine, sid)
    page = service.trials(engine, sid, TrialQuery(sort="neural_fit"))
    # Only trials with a fit rank by it (as for every sort key).
    assert [t.trial for t in page.items] == [1] and page.sort == "neural_fit"
    [best] = page.items
    assert (best.node, best.gpu_share, best.memory_estimate, best.peak_memory) == (
        "10.0.0.2/bbbb2222",
        0.5,
        2 * 2**20,
        3 * 2**20,
    )
    assert best.neural_fit == 0.61
    everything = service.trials(engine, sid, TrialQuery(sort="+neural_fit", status="all"))
    assert [t.trial for t in everything.items][:1] == [1] and everything.total == 3
    detail = service.trial(engine, sid, 1)
    assert detail.neural == TABLE and detail.neural_fit == 0.61
    assert service.trial(engine, sid, 0).neural is None
    lines = "".join(trials_csv(engine, sid, TrialQuery(status="all")))
    rows = list(csv.DictReader(io.StringIO(lines)))
    by_trial = {r["trial"]: r for r in rows}
    assert by_trial["1"]["neural_fit"] == "0.61" and by_trial["1"]["peak_memory"] == str(3 * 2**20)
    assert by_trial["0"]["node"] == "10.0.0.1/aaaa1111" and by_trial["0"]["neural_fit"] == ""


def test_optional_columns_only_when_a_trial_of_the_page_has_them(engine: Engine) -> None:
    sid = populate(engine)
    plain = service.trials(engine, sid, TrialQuery(status="all")).items
    assert shown_columns(plain) == (*BOARD_COLUMNS, "node")
    # every CPU trial carries its estimate: alone it opens no GPU columns
    estimated = [t.model_copy(update={"memory_estimate": 2**20, "gpu_share": 0.0}) for t in plain]
    assert shown_columns(estimated) == (*BOARD_COLUMNS, "node")
    _facts(engine, sid)
    cpu_only = service.trials(engine, sid, TrialQuery(status="all", sort="number", limit=1))
    assert [t.trial for t in cpu_only.items] == [0]  # gpu_share 0: a CPU trial shows nothing
    assert cpu_only.shown_columns() == (*BOARD_COLUMNS, "node")
    full = service.trials(engine, sid, TrialQuery(status="all")).shown_columns()
    assert full[-5:] == ("node", "neural_fit", "gpu_share", "peak_memory", "memory_estimate")


def test_cli_leaderboard_shows_node_and_the_optional_columns(engine: Engine, db_url: str) -> None:
    sid = populate(engine)
    db = ["--db", db_url, "--status", "all"]
    out = runner.invoke(app, ["leaderboard", str(sid), *db])
    assert out.exit_code == 0, out.output
    header = next(line for line in out.stdout.splitlines() if "last_val_acc" in line)
    assert "node" in header and " fit " not in header and "peak" not in header
    _facts(engine, sid)
    out = runner.invoke(app, ["leaderboard", str(sid), *db])
    assert out.exit_code == 0, out.output
    header = next(line for line in out.stdout.splitlines() if "rank" in line)
    assert all(f" {name} " in header for name in ("node", "fit", "gpu", "peak", "est."))
    # The node is folded over lines in a narrow table, never cut short.
    assert "10.0.0.2" in out.stdout and "bbbb222" in out.stdout and "0.6100" in out.stdout
    assert human_bytes(3 * 2**20) in out.stdout and human_bytes(2 * 2**20) in out.stdout
    out = runner.invoke(
        app, ["leaderboard", str(sid), "--json", "--sort", "neural_fit", "--db", db_url]
    )
    assert out.exit_code == 0, out.output
    [item] = json.loads(out.stdout)["items"]
    assert item["neural_fit"] == 0.61 and item["peak_memory"] == 3 * 2**20
    out = runner.invoke(app, ["trial", str(sid), "1", "--db", db_url])
    assert out.exit_code == 0, out.output
    assert "node 10.0.0.2/bbbb2222; gpu share 0.50; peak memory " in out.stdout
    assert f"(estimate {human_bytes(2 * 2**20)}); neural fit 0.6100" in out.stdout
    out = runner.invoke(app, ["trial", str(sid), "1", "--json", "--db", db_url])
    assert json.loads(out.stdout)["neural"] == TABLE
    out = runner.invoke(app, ["leaderboard", str(sid), "--sort", "fit", "--db", db_url])
    assert out.exit_code != 0 and "--sort" in out.output and "neural_fit" in out.output


def test_web_leaderboard_shows_node_and_the_optional_columns(engine: Engine, db_url: str) -> None:
    from tests.api.api_helpers import make_client

    sid = populate(engine)
    with make_client(db_url) as client:
        page = client.get(f"/searches/{sid}?status=all")
        assert page.status_code == 200
        assert 'data-field="node"' in page.text and 'data-field="neural_fit"' not in page.text
        _facts(engine, sid)
        page = client.get(f"/searches/{sid}?status=all")
        assert page.status_code == 200
        for field in ("node", "neural_fit", "peak_memory", "memory_estimate"):
            assert f'data-field="{field}"' in page.text
        assert "10.0.0.2/bbbb2222" in page.text and human_bytes(3 * 2**20) in page.text
        assert "sort=-neural_fit" in page.text
        by_fit = client.get(f"/searches/{sid}?sort=-neural_fit")
        assert by_fit.status_code == 200 and 'aria-sort="descending"' in by_fit.text


def test_migration_0005_keeps_existing_trials_and_downgrades(db_url: str) -> None:
    engine = create_db_engine(db_url, migrate=False)
    try:
        upgrade(engine, "0004")
        old = sa.Table("convnas_trials", sa.MetaData(), autoload_with=engine)
        assert "neural_fit" not in old.c and "peak_memory" not in old.c
        sid = create_search(engine, tiny_spec(name="old"))
        with engine.begin() as conn:
            conn.execute(
                old.insert(),
                [
                    {
                        "search_id": sid,
                        "number": n,
                        "status": "completed",
                        "arch": {},
                        "arch_hash": f"{n:016x}",
                        "config_hash": f"{n:016x}",
                        "params": {},
                        "epochs": 1,
                        "pareto": False,
                        "best_val_acc": n / 10,
                        "node": "10.0.0.1",
                        "created_at": utcnow(),
                    }
                    for n in range(3)
                ],
            )
        upgrade(engine)
        page = service.trials(engine, sid, TrialQuery())
        assert [t.trial for t in page.items] == [2, 1, 0]
        assert all(t.neural_fit is None and t.peak_memory is None for t in page.items)
        assert page.items[0].node == "10.0.0.1"
        assert service.trials(engine, sid, TrialQuery(sort="neural_fit")).total == 0
        downgrade(engine, "0004")
        assert "neural_fit" not in {
            c["name"] for c in inspect(engine).get_columns("convnas_trials")
        }
        upgrade(engine)
    finally:
        engine.dispose()

"""Records: migrations, trial state transitions, leaderboards, Pareto flags (both backends)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, text

from search.errors import InvalidRequest, NotFound
from search.records import repository as repo
from search.records.db import Base, Search, Trial, TrialMetric, create_db_engine, session_scope
from search.records.leaderboard import best_trial
from search.records.migrations import (
    VERSION_TABLE,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from search.records.pareto import Goal, add_to_pareto, pareto_mask, update_pareto
from search.settings import database_url, normalize_url
from space.spec import Objective
from tests.search.service_helpers import board


def make_search(engine: Engine, name: str = "s", trials: int = 4) -> int:
    with session_scope(engine) as s:
        return repo.insert_search(s, name=name, spec={"name": name}, requested_trials=trials).id


def add_trial(engine: Engine, search_id: int, number: int, **fields: Any) -> None:
    defaults: dict[str, Any] = {
        "status": "completed",
        "arch": {"n": number},
        "arch_hash": f"a{number:015d}",
        "config_hash": f"c{number:015d}",
        "params": {},
        "epochs": 1,
        "pareto": False,
    }
    defaults.update(fields)
    with session_scope(engine) as s:
        s.add(Trial(search_id=search_id, number=number, **defaults))


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


def test_migrations_match_models_and_are_idempotent(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    upgrade(engine)  # second run: a no-op
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": VERSION_TABLE,
                "include_name": lambda n, t, _p: t != "table" or n.startswith("convnas_"),
                "compare_type": True,
            },
        )
        assert compare_metadata(context, Base.metadata) == []
    names = set(inspect(engine).get_table_names())
    assert {"convnas_searches", "convnas_trials", "convnas_trial_metrics"} <= names


def test_downgrade_then_upgrade(engine: Engine) -> None:
    downgrade(engine, "base")
    assert "convnas_trials" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_leaderboard_indexes_exist(engine: Engine) -> None:
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("convnas_trials")}
    assert {
        "ix_convnas_trials_search_status_acc",
        "ix_convnas_trials_search_params",
        "ix_convnas_trials_arch_hash",
        "ix_convnas_trials_search_config",
    } <= indexes


def test_sqlite_uses_wal_and_busy_timeout(tmp_path: Any) -> None:
    eng = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 10_000
    eng.dispose()


def test_commit_settings_on_our_engine_and_optunas(db_url: str) -> None:
    """Every connection (ours and Optuna's storage) commits without a disk flush per commit:
    SQLite WAL + synchronous=NORMAL (1), PostgreSQL synchronous_commit=off."""
    from search.records.studies import rdb_storage

    storage = rdb_storage(db_url)
    ours = create_db_engine(db_url)
    try:
        for eng in (ours, storage.engine):
            with eng.connect() as conn:
                if eng.dialect.name == "sqlite":
                    assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                    assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
                    assert int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) > 0
                else:
                    assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    finally:
        ours.dispose()
        storage.engine.dispose()


def test_database_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVNAS_DATABASE_URL", raising=False)
    assert database_url() == "sqlite:///convnas.db"
    monkeypatch.setenv("CONVNAS_DATABASE_URL", "postgresql://u@h/db")
    assert database_url() == "postgresql+psycopg://u@h/db"
    assert database_url("other.db") == "sqlite:///other.db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"


# --------------------------------------------------------------------------------------------
# Searches and trials
# --------------------------------------------------------------------------------------------


def test_resolve_search_by_id_and_name(engine: Engine) -> None:
    first = make_search(engine, "alpha")
    second = make_search(engine, "alpha")
    with session_scope(engine) as s:
        assert repo.resolve_search(s, str(first)).id == first
        assert repo.resolve_search(s, "alpha").id == second  # the latest of that name
        with pytest.raises(NotFound, match="no search with id 999"):
            repo.resolve_search(s, "999")
        with pytest.raises(NotFound, match="'beta'"):
            repo.resolve_search(s, "beta")
        a, b = (repo.resolve_search(s, str(i)) for i in (first, second))
        assert a.study_name != b.study_name


def test_record_epoch_is_idempotent_and_tracks_best(engine: Engine) -> None:
    sid = make_search(engine)
    add_trial(engine, sid, 0, status="running", epochs=0)
    results = [
        {"val_acc": 0.5, "train_loss": 1.0, "val_acc_per_step": [0.1, 0.5], "lr": 0.1},
        {"val_acc": 0.7, "train_loss": float("nan"), "val_acc_per_step": [0.2, 0.7]},
        {"val_acc": 0.6, "elapsed": 3.5, "val_acc_per_step": [0.3, 0.6]},
    ]
    with session_scope(engine) as s:
        trial = repo.get_trial(s, sid, 0)
        for epoch, result in enumerate(results, start=1):
            repo.record_epoch(s, trial, epoch, result)
        repo.record_epoch(s, trial, 2, results[1])  # replayed: replaces, never duplicates
    with session_scope(engine) as s:
        trial = repo.get_trial(s, sid, 0)
        assert [m.epoch for m in trial.metrics] == [1, 2, 3]
        assert trial.best_val_acc == 0.7 and trial.last_val_acc == 0.6 and trial.epochs == 3
        assert trial.train_seconds == 3.5
        assert trial.metrics[1].train_loss is None  # NaN stored as missing
        assert trial.metrics[0].val_acc_per_step == [0.1, 0.5]
        assert trial.metrics[0].extra == {"lr": 0.1}
        n = s.scalar(select(func.count()).select_from(TrialMetric))
        assert n == 3


def test_trial_numbers_are_unique_per_search(engine: Engine) -> None:
    sid = make_search(engine)
    add_trial(engine, sid, 0)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        add_trial(engine, sid, 0)


def test_find_trained_skips_duplicates_and_interrupted(engine: Engine) -> None:
    sid = make_search(engine)
    add_trial(engine, sid, 0, status="interrupted", config_hash="x")
    add_trial(engine, sid, 1, status="running", config_hash="x")
    add_trial(engine, sid, 2, status="duplicate", config_hash="x", duplicate_of=1)
    with session_scope(engine) as s:
        found = repo.find_trained(s, sid, "x")
        assert found is not None and found.number == 1
        assert repo.find_trained(s, sid, "y") is None


def test_counts_interrupt_and_list(engine: Engine) -> None:
    sid = make_search(engine, "counted", trials=5)
    for n, status in enumerate(["completed", "completed", "failed", "running", "duplicate"]):
        add_trial(engine, sid, n, status=status, best_val_acc=0.1 * n)
    with session_scope(engine) as s:
        assert repo.finished_count(s, sid) == 4
        assert repo.mark_interrupted(s, sid) == 1
    with session_scope(engine) as s:
        assert repo.trial_counts(s, sid)["interrupted"] == 1


def test_cancel_transitions(engine: Engine) -> None:
    sid = make_search(engine)
    with session_scope(engine) as s:
        search = s.get(Search, sid)
        assert search is not None
        assert "cancelled" in repo.request_cancel(s, search)  # queued: nobody drives it
        assert search.status == "cancelled"
        assert "already cancelled" in repo.request_cancel(s, search)
        search.status = "running"
        search.cancel_requested = False
        assert "requested" in repo.request_cancel(s, search)
        assert search.cancel_requested and search.status == "running"


# --------------------------------------------------------------------------------------------
# Leaderboard
# --------------------------------------------------------------------------------------------


def test_leaderboard_order_filters_and_errors(engine: Engine) -> None:
    sid = make_search(engine)
    accs = [0.3, 0.9, None, 0.9, 0.5]
    params = [500, 100, 50, 300, 200]
    for n, (acc, p) in enumerate(zip(accs, params, strict=True)):
        add_trial(engine, sid, n, best_val_acc=acc, n_params=p)
    add_trial(engine, sid, 5, status="pruned", best_val_acc=0.95, n_params=10)
    with session_scope(engine) as s:
        assert [t.number for t in board(s, sid)] == [1, 3, 4, 0]
        assert [t.number for t in board(s, sid, limit=2)] == [1, 3]
        assert [t.number for t in board(s, sid, sort="params")] == [2, 1, 4, 3, 0]
        assert [t.number for t in board(s, sid, sort="-params", limit=1)] == [0]
        assert [t.number for t in board(s, sid, status="all")] == [5, 1, 3, 4, 0, 2]
        assert [t.number for t in board(s, sid, status="pruned")] == [5]
        for field, bad in (("sort", "bogus"), ("status", "nope"), ("limit", 0)):
            with pytest.raises(InvalidRequest) as info:
                board(s, sid, **{field: bad})
            assert info.value.problems[0].path == field and info.value.problems[0].value == bad
        search = s.get(Search, sid)
        assert search is not None
        assert best_trial(s, search).number == 1


# --------------------------------------------------------------------------------------------
# Pareto
# --------------------------------------------------------------------------------------------


def brute_force_front(points: list[list[float]], goals: list[Goal]) -> list[bool]:
    def better_eq(a: float, b: float, goal: str) -> bool:
        return a >= b if goal == "max" else a <= b

    def strictly(a: float, b: float, goal: str) -> bool:
        return a > b if goal == "max" else a < b

    out = []
    for i, p in enumerate(points):
        dominated = any(
            all(better_eq(q[k], p[k], g) for k, g in enumerate(goals))
            and any(strictly(q[k], p[k], g) for k, g in enumerate(goals))
            for j, q in enumerate(points)
            if j != i
        )
        out.append(not dominated)
    return out


@pytest.mark.parametrize("seed", range(20))
def test_pareto_mask_matches_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    n_obj = rng.choice([2, 3])
    goals: list[Goal] = [rng.choice(["max", "min"]) for _ in range(n_obj)]
    # Small integer grids force ties, the hard case.
    points = [[float(rng.randint(0, 6)) for _ in range(n_obj)] for _ in range(rng.randint(0, 40))]
    assert pareto_mask(points, goals) == brute_force_front(points, goals)


def test_pareto_flags_in_the_database_match_brute_force(engine: Engine) -> None:
    rng = random.Random(7)
    objectives = [Objective(metric="val_acc", goal="max"), Objective(metric="params", goal="min")]
    sid = make_search(engine)
    points = []
    for n in range(40):
        acc, params = round(rng.random(), 1), rng.randint(1, 8) * 1000
        status = "completed" if n % 7 else "failed"
        add_trial(engine, sid, n, status=status, best_val_acc=acc, n_params=params)
        if status == "completed":
            points.append((n, [acc, float(params)]))
        # Incremental flagging as trials complete must equal the full recompute at every step.
        with session_scope(engine) as s:
            add_to_pareto(s, repo.get_trial(s, sid, n), objectives)
    expected = dict(
        zip(
            [n for n, _ in points],
            brute_force_front([p for _, p in points], ["max", "min"]),
            strict=True,
        )
    )
    with session_scope(engine) as s:
        flags = {t.number: t.pareto for t in s.scalars(select(Trial).where(Trial.search_id == sid))}
    assert {n: flags[n] for n in expected} == expected
    assert not any(flags[n] for n in flags if n not in expected)
    with session_scope(engine) as s:
        size = update_pareto(s, sid, objectives)
    assert size == sum(expected.values())
    with session_scope(engine) as s:
        front = board(s, sid, pareto=True)
        assert {t.number for t in front} == {n for n, on in expected.items() if on}


# --------------------------------------------------------------------------------------------
# Scale
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_leaderboard_is_fast_with_100k_trials(engine: Engine) -> None:
    import time

    sid = make_search(engine)
    other = make_search(engine, "other")
    rng = random.Random(0)
    rows = [
        {
            "search_id": sid if i % 2 else other,
            "number": i,
            "status": rng.choice(["completed", "completed", "failed", "pruned"]),
            "arch": {},
            "arch_hash": f"{i:016x}",
            "config_hash": f"{i:016x}",
            "params": {},
            "epochs": 1,
            "pareto": False,
            "best_val_acc": rng.random(),
            "n_params": rng.randint(1000, 10**6),
        }
        for i in range(100_000)
    ]
    with session_scope(engine) as s:
        s.execute(Trial.__table__.insert(), rows)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    with session_scope(engine) as s:
        board(s, sid, limit=20)  # warm
        start = time.perf_counter()
        for _ in range(10):
            top = board(s, sid, limit=20)
            board(s, sid, limit=20, sort="params", offset=1000)
        per_query = (time.perf_counter() - start) / 20
    accs = [t.best_val_acc or 0 for t in top]
    assert accs == sorted(accs, reverse=True) and len(top) == 20
    # About 10-20 ms per page here (bench/api_latency.py has the figures); a page that scans
    # the table instead of an index takes well over 100 ms at this size.
    assert per_query < 0.1, f"leaderboard query took {per_query * 1000:.1f} ms"


def test_record_epoch_keeps_the_trainables_metrics_not_tunes_bookkeeping(engine: Engine) -> None:
    sid = make_search(engine)
    add_trial(engine, sid, 0, status="running", epochs=0)
    # What Ray Tune hands the callbacks: the trainable's report plus Tune's own keys.
    reported = {
        "epoch": 1, "val_acc": 0.5, "lr": 0.05, "steps": 12, "train_acc": 0.4,
        "status": "running", "final": False, "device": "cpu", "arch_hash": "abc",
    }  # fmt: skip
    tune_keys = {
        "config": {"arch": {"layers": [{"channels": 8}] * 50}, "dataset": "digits"},
        "experiment_tag": "1_arch=...", "trial_id": "abc_00001", "training_iteration": 1,
        "timestamp": 1, "date": "2026-01-01", "time_this_iter_s": 0.1, "time_total_s": 0.2,
        "pid": 1, "hostname": "h", "node_ip": "127.0.0.1", "done": False,
        "time_since_restore": 0.2, "iterations_since_restore": 1, "checkpoint_dir_name": None,
    }  # fmt: skip
    with session_scope(engine) as s:
        repo.record_epoch(s, repo.get_trial(s, sid, 0), 1, {**reported, **tune_keys})
    with session_scope(engine) as s:
        extra = repo.get_trial(s, sid, 0).metrics[0].extra
    assert extra == {"lr": 0.05, "steps": 12, "train_acc": 0.4, "status": "running",
                     "final": False, "device": "cpu"}  # fmt: skip

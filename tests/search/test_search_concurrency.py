"""Several processes at once on one database: first use of a fresh database (our schema and
Optuna's created once, the others wait), and claims of queued searches (each taken once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from search.records.db import Search, create_db_engine, session_scope
from search.records.lifecycle import SearchStateError, claim, claim_next, create_search
from tests.db_helpers import POSTGRES_ENV, postgres_base_url
from tests.search.search_helpers import tiny_spec

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 3
ROUNDS = 3

# Each process imports once, then for each round waits for that round's go file, so that all
# of them touch the round's fresh database within a few milliseconds of each other. A failure is
# printed (its last line) rather than raised, so that the later rounds still run.
FIRST_USE = textwrap.dedent(
    """
    import json, os, time
    from tests.search.search_helpers import tiny_spec
    from search.records.db import create_db_engine
    from search.run.study import open_study
    from search.records.lifecycle import create_search
    for round_, url in enumerate(json.loads({urls!r})):
        open(os.path.join({folder!r}, f"ready-{{round_}}-{{os.getpid()}}"), "w").close()
        while not os.path.exists(os.path.join({folder!r}, f"go-{{round_}}")):
            time.sleep(0.002)
        try:
            engine = create_db_engine(url)
            spec = tiny_spec()
            create_search(engine, spec)
            open_study("race-" + str(os.getpid()), spec, url, 4)
            engine.dispose()
            print(json.dumps([round_, "ok"]), flush=True)
        except Exception as exc:
            print(json.dumps([round_, f"{{type(exc).__name__}}: {{exc}}".splitlines()[0]]))
    """
)


def _first_use(urls: list[str], folder: Path) -> list[list[str]]:
    """Run :data:`FIRST_USE` in PROCESSES processes; per round, what each process said."""
    code = FIRST_USE.format(urls=json.dumps(urls), folder=str(folder))
    procs = [
        subprocess.Popen(  # from the checkout (cwd), where tests/ is a package
            [sys.executable, "-c", code],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for round_ in range(len(urls)):
            deadline = time.monotonic() + 120
            while len(list(folder.glob(f"ready-{round_}-*"))) < PROCESSES:
                assert time.monotonic() < deadline, "the processes never got ready"
                assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
                time.sleep(0.01)
            (folder / f"go-{round_}").touch()
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for proc in procs:
            proc.kill()
    said: list[list[str]] = [[] for _ in urls]
    for (out, err), proc in zip(outputs, procs, strict=True):
        assert proc.returncode == 0, err
        for line in out.splitlines():
            round_, message = json.loads(line)
            said[round_].append(message)
    return said


def _assert_every_round_started(urls: list[str], said: list[list[str]]) -> None:
    failures = [(i, m) for i, messages in enumerate(said) for m in messages if m != "ok"]
    assert not failures, f"processes failed on a fresh database (round, error): {failures}"
    for url, messages in zip(urls, said, strict=True):
        assert len(messages) == PROCESSES
        engine = create_db_engine(url)
        try:
            with session_scope(engine) as s:
                assert s.query(Search).count() == PROCESSES
            with engine.connect() as conn:  # Optuna stamped its version exactly once
                versions = conn.execute(text("SELECT count(*) FROM alembic_version")).scalar()
                studies = conn.execute(text("SELECT count(*) FROM studies")).scalar()
            assert versions == 1 and studies == PROCESSES
        finally:
            engine.dispose()


def test_fresh_sqlite_file_three_processes_at_once(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / f'fresh{i}.db'}" for i in range(ROUNDS)]
    _assert_every_round_started(urls, _first_use(urls, tmp_path))


@pytest.fixture
def fresh_postgres_databases() -> Iterator[list[str]]:
    """ROUNDS new, empty PostgreSQL databases (what a new deployment starts on), dropped
    afterwards."""
    base = postgres_base_url()
    if base is None:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL case skipped")
    names = [f"convnas_race_{uuid.uuid4().hex[:12]}" for _ in range(ROUNDS)]
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield [
            make_url(base).set(database=name).render_as_string(hide_password=False)
            for name in names
        ]
    finally:
        from search.records.db import dispose_engines

        dispose_engines()
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_fresh_postgres_database_three_processes_at_once(
    fresh_postgres_databases: list[str], tmp_path: Path
) -> None:
    urls = fresh_postgres_databases
    _assert_every_round_started(urls, _first_use(urls, tmp_path))


# --------------------------------------------------------------------------------------------
# Claims: threads, each with its own engine, released together at a barrier
# --------------------------------------------------------------------------------------------

CLAIMANTS = 4
CLAIM_ROUNDS = 20


def _race(db_url: str, n: int, work: Callable[[Engine, int], Any]) -> list[Any]:
    """Run ``work(engine, i)`` in ``n`` threads at once, each on its own engine."""
    engines = [create_db_engine(db_url) for _ in range(n)]
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(engines[i], i)
        except Exception as exc:  # the refusals are what the test counts
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for engine in engines:
        engine.dispose()
    return results


def _claimant(search_id: int) -> Callable[[Engine, int], Any]:
    return lambda engine, i: claim(engine, search_id, runner=f"runner-{i}:{os.getpid()}")


def test_two_claims_of_one_queued_search_give_it_to_exactly_one(
    engine: Engine, db_url: str
) -> None:
    spec = tiny_spec()
    for _ in range(CLAIM_ROUNDS):
        search_id = create_search(engine, spec)
        results = _race(db_url, 2, _claimant(search_id))
        won = [r for r in results if not isinstance(r, Exception)]
        lost = [r for r in results if isinstance(r, Exception)]
        assert len(won) == 1, results
        assert len(lost) == 1 and isinstance(lost[0], SearchStateError), lost
        assert "being driven by runner-" in str(lost[0]), lost
        with session_scope(engine) as s:
            row = s.get(Search, search_id)
            assert row is not None and row.status == "running"
            winner = results.index(won[0])
            assert row.runner == f"runner-{winner}:{os.getpid()}"


def test_claim_next_hands_each_queued_search_to_one_runner(engine: Engine, db_url: str) -> None:
    spec = tiny_spec()
    queued = [create_search(engine, spec) for _ in range(CLAIMANTS * 3)]

    def drain(eng: Engine, i: int) -> list[int]:
        taken = []
        while (search_id := claim_next(eng, f"runner-{i}")) is not None:
            taken.append(search_id)
        return taken

    results = _race(db_url, CLAIMANTS, drain)
    assert not [r for r in results if isinstance(r, Exception)], results
    taken = Counter(search_id for got in results for search_id in got)
    assert sorted(taken) == queued and set(taken.values()) == {1}, taken
    assert claim_next(engine, "late") is None
    with session_scope(engine) as s:
        runners = {row.id: row.runner for row in s.query(Search)}
    for i, got in enumerate(results):
        assert all(runners[search_id] == f"runner-{i}" for search_id in got)


def test_claim_next_takes_the_oldest_and_claim_refuses_ended(engine: Engine) -> None:
    spec = tiny_spec()
    first, second = create_search(engine, spec), create_search(engine, spec)
    assert claim_next(engine, "r") == first
    assert claim_next(engine, "r") == second
    # The runner that holds a search may claim it again (run_search after claim_next).
    assert claim(engine, first, runner="r").name == spec.name
    from search.records.lifecycle import finalize

    finalize(engine, first, "succeeded", None)
    with pytest.raises(SearchStateError, match="is succeeded; nothing to run"):
        claim(engine, first, runner="r")

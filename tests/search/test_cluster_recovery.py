"""A Ray head restart under a runner (issue 20), for real on loopback against PostgreSQL.

The operator's setup from docs/operations.md: a Ray head, ``convnas runner --address`` beside it
and searches submitted to the queue. The head is killed while the runner drives a search. The
driver loses Ray (its GCS timeout is set to 5 s here; Ray's default is 60 s) and the search goes
back to the queue with the reason; the runner, unable to connect, leaves the queue alone and
says so in /health; once the head is back, it resumes the search and runs the one that waited.
Nobody types a command, and no trial is counted twice.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, select

from search import service
from search.records.db import Trial, create_db_engine, session_scope
from space.status import FINISHED_TRIAL
from tests.search.cluster_helpers import LocalCluster, Started, session_pids
from tests.search.search_helpers import spec_data

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.ray, pytest.mark.postgres]

CONVNAS = str(Path(sys.executable).parent / "convnas")
TIMEOUT = 240


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    pytest.importorskip("ray")
    local = LocalCluster()
    try:
        local.start_node("head", "node_a", head=True)
        yield local
    finally:
        local.stop()


def _submit(local: LocalCluster, url: str, name: str, trials: int, epochs: int) -> None:
    spec = local.root / f"{name}.yaml"
    data = spec_data(name, trials=trials, concurrency=1, epochs=epochs, scheduler="fifo")
    spec.write_text(yaml.safe_dump(data))
    done = local.spawn(f"submit-{name}", [CONVNAS, "search", "submit", str(spec), "--db", url])
    assert done.proc.wait(timeout=120) == 0, done.text()


def _wait(what: str, check: Callable[[], bool], runner: Started, timeout: float = TIMEOUT) -> float:
    """Seconds until ``check()`` holds (an AssertionError with the runner's log after
    ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout}s\n{runner.text()[-4000:]}")


def _trials(engine: Engine, search_id: int) -> list[Trial]:
    with session_scope(engine) as s:
        rows = list(s.scalars(select(Trial).where(Trial.search_id == search_id)))
        s.expunge_all()
        return rows


def test_a_head_restart_under_a_runner_needs_nobody(cluster: LocalCluster, pg_url: str) -> None:
    local = cluster
    engine = create_db_engine(pg_url)
    storage = local.root / "storage"
    try:
        _submit(local, pg_url, "first", trials=6, epochs=12)
        _submit(local, pg_url, "waiting", trials=2, epochs=2)
        args = [CONVNAS, "runner", "--db", pg_url, "--address", local.address]
        runner = local.spawn(
            "runner",
            [*args, "--storage", str(storage), "--poll", "0.5"],
            RAY_gcs_rpc_server_reconnect_timeout_s="5",
        )

        def first_has_completed() -> bool:
            return any(t.status == "completed" for t in _trials(engine, 1))

        _wait("a trial of the first search completes", first_has_completed, runner)
        head = next(s for s in local.started if s.log.name == "head.log")
        head.kill()
        lost_at = time.monotonic()

        def requeued() -> bool:
            return len(service.get_search(engine, 1).recoveries) == 1

        detected = _wait("the first search goes back to the queue", requeued, runner)
        found = service.get_search(engine, 1)
        assert found.status in ("queued", "running"), found  # not failed
        assert "before recording an outcome" in found.recoveries[0].reason

        def waiting() -> bool:
            processes = service.health(engine).runner_processes
            return any(p.state == "waiting" for p in processes)

        _wait("the runner says it waits for its cluster", waiting, runner, timeout=60)
        (process,) = service.health(engine).runner_processes
        assert process.detail and local.address in process.detail
        assert service.get_search(engine, 2).status == "queued"  # not claimed meanwhile

        local.start_node("head-again", "node_a", head=True)
        back_at = time.monotonic()

        def both_succeeded() -> bool:
            return all(service.get_search(engine, i).status == "succeeded" for i in (1, 2))

        _wait("both searches succeed", both_succeeded, runner)
        resumed = time.monotonic() - back_at
        first, second = service.get_search(engine, 1), service.get_search(engine, 2)
        rows = _trials(engine, 1)
    finally:
        engine.dispose()
    print(
        f"head lost: search queued again after {detected:.0f}s; both searches done "
        f"{resumed:.0f}s after the head came back ({time.monotonic() - lost_at:.0f}s in all)"
    )
    # Nothing counted twice: the exact count finished, each number once; the trial cut short
    # is recorded interrupted and its slot was spent again.
    numbers = [t.number for t in rows]
    assert len(numbers) == len(set(numbers))
    finished = [t for t in rows if t.status in FINISHED_TRIAL]
    assert first.finished == len(finished) == first.requested == 6
    assert {t.status for t in rows} <= {*FINISHED_TRIAL, "interrupted"}
    assert len(first.recoveries) == 1 and second.recoveries == []
    assert second.finished == 2


# The guide's health check for a cluster that must notice a hung node fast (docs/operations.md,
# "A Ray node that hangs"): the GCS asks every node each second and gives up after 3 misses.
HEALTH_CHECK = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


def test_a_frozen_node_fails_its_trial_within_seconds_under_the_guides_health_check(
    pg_url: str,
) -> None:
    """A node stopped with SIGSTOP (its raylet and workers frozen, sockets open) is declared
    dead by the head's health check, and its trial fails with the reason; Ray's defaults
    (period 3 s, timeout 10 s, 5 misses) take about a minute."""
    pytest.importorskip("ray")
    local = LocalCluster()
    frozen: list[int] = []
    engine = create_db_engine(pg_url)
    try:
        local.start_node("head", "node_a", head=True, env=HEALTH_CHECK)
        node_b = local.start_node("node_b", "node_b")
        node_id = local.nodes({"node_a", "node_b"})["node_b"]
        spec = local.root / "spec.yaml"
        data = spec_data("frozen", trials=4, concurrency=2, epochs=15, scheduler="fifo")
        spec.write_text(yaml.safe_dump(data))
        args = [CONVNAS, "search", "run", str(spec), "--db", pg_url, "--address", local.address]
        driver = local.spawn("driver", [*args, "--storage", str(local.root / "runs")])

        def busy_on_b() -> list[Trial]:
            rows = [t for t in _all_trials(engine) if t.node and t.node.endswith(node_id[:8])]
            return [t for t in rows if t.status == "running" and t.epochs >= 1]

        _wait("a trial trains on node_b", lambda: bool(busy_on_b()), driver)
        (victim,) = busy_on_b()[:1]
        frozen = session_pids(node_b.proc.pid)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        took = _wait(
            "the frozen node's trial fails",
            lambda: _status(engine, victim.number) != "running",
            driver,
            timeout=120,
        )
        trial = next(t for t in _all_trials(engine) if t.number == victim.number)
        assert driver.proc.wait(timeout=TIMEOUT) == 0, driver.text()[-3000:]
    finally:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        engine.dispose()
        local.stop()
    print(f"a frozen node's trial failed {took:.1f}s after SIGSTOP ({trial.error})")
    assert trial.status == "failed" and trial.error
    assert trial.error.startswith("node died or worker killed: ")
    assert took < 30


def _all_trials(engine: Engine) -> list[Trial]:
    with session_scope(engine) as s:
        rows = list(s.scalars(select(Trial).order_by(Trial.number)))
        s.expunge_all()
        return rows


def _status(engine: Engine, number: int) -> str:
    return next(t.status for t in _all_trials(engine) if t.number == number)

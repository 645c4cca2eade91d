"""A runner that survives its cluster (issue 20), without Ray: a search whose driver lost the
cluster goes back to the queue with the reason (not failed), up to MAX_RECOVERIES times; a
runner that cannot reach its Ray cluster leaves the queue alone, says why in /health and tries
again with a growing wait."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from search import service
from search.records.db import Trial, session_scope
from search.records.lifecycle import MAX_RECOVERIES, claim_next, create_search, recover
from search.run.cluster import Backoff, can_drive
from search.run.runner import Runner, lost_cluster
from tests.search.search_helpers import tiny_spec
from tests.search.service_helpers import row
from tests.search.test_runner_claims import add_running_trial, run_loop_until


def test_a_search_that_lost_its_cluster_is_queued_again_up_to_the_limit(engine: Engine) -> None:
    search_id = create_search(engine, tiny_spec())
    for n in range(1, MAX_RECOVERIES + 1):
        assert claim_next(engine, "me:1") == search_id
        if n == 1:
            add_running_trial(engine, search_id)
        assert not recover(engine, search_id, "other:2", "lost")  # not its runner's: untouched
        assert recover(engine, search_id, "me:1", f"lost the cluster ({n})")
        found = row(engine, search_id)
        assert found.status == "queued" and found.finished_at is None
        assert found.error == f"lost the cluster ({n}); queued again to resume (recovery {n} of 3)"
    out = service.get_search(engine, search_id)
    assert [r.reason for r in out.recoveries] == [f"lost the cluster ({n})" for n in (1, 2, 3)]
    with session_scope(engine) as s:  # its trial's slot is spent again
        assert s.scalars(select(Trial.status)).all() == ["interrupted"]
    assert claim_next(engine, "me:1") == search_id
    assert not recover(engine, search_id, "me:1", "lost again")  # the fourth: it fails
    found = row(engine, search_id)
    assert found.status == "failed" and found.finished_at is not None
    assert found.error == "lost again; not queued again (3 recoveries, limit 3)"


def test_a_cancelled_search_is_not_queued_again(engine: Engine) -> None:
    search_id = create_search(engine, tiny_spec())
    claim_next(engine, "me:1")
    service.cancel(engine, search_id)
    assert not recover(engine, search_id, "me:1", "lost")
    assert row(engine, search_id).status == "cancelled"


def test_cluster_errors_are_told_from_a_wrong_search() -> None:
    assert lost_cluster(ConnectionError("Failed to connect to Ray cluster"))
    assert lost_cluster(type("RaySystemError", (Exception,), {"__module__": "ray.exceptions"})())
    assert not lost_cluster(ModuleNotFoundError("No module named 'x'"))
    assert not lost_cluster(ValueError("bad spec"))


def test_backoff_doubles_to_its_ceiling_and_resets() -> None:
    backoff = Backoff(first=5, most=60)
    assert backoff.due(0.0)
    assert [backoff.failed(0.0) for _ in range(6)] == [5, 10, 20, 40, 60, 60]
    assert not backoff.due(59.0) and backoff.due(60.0)
    backoff.succeeded()
    assert backoff.due(0.0) and backoff.failed(0.0) == 5


def test_an_unreachable_cluster_is_named_without_starting_ray() -> None:
    reason = can_drive("127.0.0.1:1")
    assert reason is not None and "127.0.0.1:1" in reason
    assert can_drive(None) is None  # a local Ray of its own: always possible


def test_a_runner_that_cannot_reach_its_cluster_waits_and_says_so(
    engine: Engine, tmp_path: Path
) -> None:
    search_id = create_search(engine, tiny_spec())
    lines: list[str] = []
    runner = Runner(
        engine, runner_id="host:7", ray_address="127.0.0.1:1", runs_dir=tmp_path, say=lines.append
    )
    runner.step()
    runner.step()  # within the backoff: no second probe, no second line
    assert row(engine, search_id).status == "queued"  # left in the queue
    waiting = [line for line in lines if "waiting:" in line]
    assert (
        len(waiting) == 1 and "127.0.0.1:1" in waiting[0] and "searches stay queued" in waiting[0]
    )
    (process,) = service.health(engine).runner_processes
    assert (process.runner, process.state, process.searches) == ("host:7", "waiting", [])
    assert process.detail is not None and "127.0.0.1:1" in process.detail


@pytest.mark.slow
def test_a_driver_that_dies_without_an_outcome_is_resumed_then_given_up(
    engine: Engine, tmp_path: Path
) -> None:
    """A driver process that ends without recording anything (as Ray ends one whose head went
    away) does not fail its search: it is queued again and claimed again, each time recorded,
    until MAX_RECOVERIES; then it fails with the count."""
    search_id = create_search(engine, tiny_spec(name="dies"))

    def failed() -> bool:
        return row(engine, search_id).status == "failed"

    lines = run_loop_until(engine, tmp_path, "tests.search.driver_dies:train", failed, 180)
    found = row(engine, search_id)
    assert found.status == "failed", lines
    assert found.error == (
        "its driver process exited with code 3 before recording an outcome; "
        f"not queued again ({MAX_RECOVERIES} recoveries, limit {MAX_RECOVERIES})"
    )
    assert len(service.get_search(engine, search_id).recoveries) == MAX_RECOVERIES
    assert sum(line.endswith(": queued again") for line in lines) == MAX_RECOVERIES, lines

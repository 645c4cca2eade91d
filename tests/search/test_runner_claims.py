"""The runner's claims without Ray, on both backends: taking over a search whose runner went
quiet (and only then), requeueing a stopped one, releasing a dead claim; the queue loop's
bookkeeping when a driver process fails before it runs anything."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from search.records.db import Search, Trial, session_scope, utcnow
from search.records.lifecycle import (
    STALE_AFTER,
    claim,
    claim_next,
    claim_stale,
    create_search,
    heartbeat,
    release,
    requeue,
    stop_reason,
)
from search.run.runner import Runner
from space.errors import ConvnasError
from space.status import SearchStatus
from tests.search.search_helpers import tiny_spec
from tests.search.service_helpers import row


def age_heartbeat(engine: Engine, search_id: int, seconds: float) -> None:
    with session_scope(engine) as s:
        s.execute(
            update(Search)
            .where(Search.id == search_id)
            .values(heartbeat_at=utcnow() - timedelta(seconds=seconds))
        )


def add_running_trial(engine: Engine, search_id: int) -> None:
    with session_scope(engine) as s:
        s.add(
            Trial(
                search_id=search_id,
                number=0,
                status="running",
                arch={},
                arch_hash="a",
                config_hash="c",
            )
        )


def dead_runner() -> str:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return f"{socket.gethostname()}:{proc.stdout.strip()}"


def test_a_quiet_runner_loses_its_search_and_a_live_one_keeps_it(engine: Engine) -> None:
    quiet = create_search(engine, tiny_spec(name="quiet"))
    live = create_search(engine, tiny_spec(name="live"))
    assert claim_next(engine, "other-host:1") == quiet
    assert claim_next(engine, "other-host:2") == live
    assert claim_stale(engine, "me:9") is None  # both beat just now
    age_heartbeat(engine, quiet, STALE_AFTER.total_seconds() + 1)
    age_heartbeat(engine, live, 5)
    assert claim_stale(engine, "me:9") == (quiet, "other-host:1")
    assert row(engine, quiet).runner == "me:9" and row(engine, quiet).status == "running"
    assert claim_stale(engine, "me:9") is None  # the live one stays where it is
    # The old driver finds out at its next heartbeat and stops.
    assert not heartbeat(engine, quiet, "other-host:1")
    assert stop_reason(engine, quiet, "other-host:1") is not None
    # A shorter timeout (the runner's --stale-after) takes the 5 s quiet one too.
    assert claim_stale(engine, "me:9", timedelta(seconds=2)) == (live, "other-host:2")


def test_a_dead_process_on_this_host_is_taken_over_at_once(engine: Engine) -> None:
    search_id = create_search(engine, tiny_spec())
    dead = dead_runner()
    assert claim_next(engine, dead) == search_id
    assert claim_stale(engine, dead) is None  # never from itself
    assert claim_stale(engine, "me:9") == (search_id, dead)
    # The new driver's own claim (run_search) accepts the search it already holds.
    claim(engine, search_id, runner="me:9")
    assert row(engine, search_id).runner == "me:9"


def test_a_stale_search_whose_cancel_was_asked_ends_cancelled(engine: Engine) -> None:
    search_id = create_search(engine, tiny_spec())
    claim_next(engine, "gone:1")
    add_running_trial(engine, search_id)
    with session_scope(engine) as s:
        s.execute(update(Search).where(Search.id == search_id).values(cancel_requested=True))
    age_heartbeat(engine, search_id, STALE_AFTER.total_seconds() + 1)
    assert claim_stale(engine, "me:9") is None
    found = row(engine, search_id)
    assert found.status == "cancelled" and found.finished_at is not None
    with session_scope(engine) as s:
        assert s.query(Trial).one().status == "interrupted"


def test_a_cancel_between_claim_and_the_drivers_claim_is_kept(engine: Engine) -> None:
    search_id = create_search(engine, tiny_spec())
    claim_next(engine, "me:9")
    with session_scope(engine) as s:
        s.execute(update(Search).where(Search.id == search_id).values(cancel_requested=True))
    claim(engine, search_id, runner="me:9")  # what run_search does in the driver process
    assert row(engine, search_id).cancel_requested
    assert stop_reason(engine, search_id, "me:9") == "search cancelled"


def test_requeue_and_release_only_touch_the_runners_own_search(engine: Engine) -> None:
    search_id = create_search(engine, tiny_spec())
    claim_next(engine, "me:9")
    add_running_trial(engine, search_id)
    assert not requeue(engine, search_id, "other:1")
    assert not release(engine, search_id, "other:1", SearchStatus.FAILED, "x")
    assert requeue(engine, search_id, "me:9")
    found = row(engine, search_id)
    assert found.status == "queued" and found.finished_at is None
    with session_scope(engine) as s:
        assert s.query(Trial).one().status == "interrupted"
    assert claim_next(engine, "next:1") == search_id  # the next runner continues it
    assert release(engine, search_id, "next:1", SearchStatus.FAILED, "boom")
    found = row(engine, search_id)
    assert (found.status, found.error) == ("failed", "boom") and found.finished_at is not None
    assert not release(engine, search_id, "next:1", SearchStatus.FAILED, "again")


def test_stop_drivers_stops_this_process_drivers(engine: Engine) -> None:
    code = (
        "import sys; from search.records.db import create_db_engine\n"
        "from search.records import lifecycle as l\n"
        f"e = create_db_engine({engine.url.render_as_string(hide_password=False)!r})\n"
        "sid = int(sys.argv[1]); l.claim(e, sid, runner='me:9')\n"
        "assert l.heartbeat(e, sid, 'me:9') and l.stop_reason(e, sid, 'me:9') is None\n"
        "l.stop_drivers('its runner is stopping')\n"
        "print(l.heartbeat(e, sid, 'me:9'), l.stop_reason(e, sid, 'me:9'))\n"
    )
    search_id = create_search(engine, tiny_spec())
    done = subprocess.run(
        [sys.executable, "-c", code, str(search_id)], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "False its runner is stopping", done.stderr
    assert stop_reason(engine, search_id, "me:9") is None  # only that process stops


def run_loop_until(
    engine: Engine, tmp_path: Path, trainable: str, done: Callable[[], bool], timeout: float
) -> list[str]:
    """A runner's loop in a thread, with ``trainable`` loaded in its driver processes, until
    ``done()`` (or ``timeout``); returns what it said."""
    lines: list[str] = []
    runner = Runner(
        engine,
        runner_id=f"{socket.gethostname()}:test",
        poll_seconds=0.2,
        runs_dir=tmp_path,
        say=lines.append,
        trainable=trainable,
    )
    stop = threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not done():
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not thread.is_alive()
    return lines


def test_a_driver_that_fails_before_it_runs_ends_the_search_failed(
    engine: Engine, tmp_path: Path
) -> None:
    """The loop drives a search in a process of its own; one that raises (here: a trainable
    that cannot be imported) ends failed with the reason, and the next search still runs."""
    first = create_search(engine, tiny_spec(name="first"))
    second = create_search(engine, tiny_spec(name="second"))

    def both_failed() -> bool:
        return all(row(engine, i).status == "failed" for i in (first, second))

    lines = run_loop_until(engine, tmp_path, "no_such_module_here:train", both_failed, 120)
    for search_id in (first, second):
        found = row(engine, search_id)
        assert found.status == "failed", (found.status, lines)
        assert found.error is not None and "No module named 'no_such_module_here'" in found.error
    claimed = [line for line in lines if line.endswith(" claimed")]
    assert [c.split("(")[1].split(")")[0] for c in claimed] == ["first", "second"]
    assert any("second) failed: 0/4 trials finished" in line for line in lines), lines


def test_the_runner_refuses_bad_options(engine: Engine) -> None:
    with pytest.raises(ConvnasError, match="max_searches: must be at least 1, got 0"):
        Runner(engine, max_searches=0)


def test_convnas_runner_refuses_what_it_cannot_use_before_it_claims(
    engine: Engine, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    search_id = create_search(engine, tiny_spec())
    url = engine.url.render_as_string(hide_password=False)
    cli = CliRunner()
    bad_ray = cli.invoke(app, ["runner", "--db", url, "--address", "127.0.0.1:1"])
    assert (
        bad_ray.exit_code == 1 and "cannot reach the Ray cluster at 127.0.0.1:1" in bad_ray.output
    )
    bad_db = cli.invoke(app, ["runner", "--db", "bogus"])
    assert bad_db.exit_code == 1 and "--db: 'bogus' is not a database URL" in bad_db.output
    too_eager = cli.invoke(app, ["runner", "--db", url, "--stale-after", "5"])
    assert too_eager.exit_code == 2
    assert row(engine, search_id).status == "queued"  # nothing claimed


def test_runners_taking_over_at_once_take_each_stale_search_once(engine: Engine) -> None:
    ids = [create_search(engine, tiny_spec(name=f"s{i}")) for i in range(4)]
    for search_id in ids:
        assert claim_next(engine, "gone:1") is not None
        age_heartbeat(engine, search_id, STALE_AFTER.total_seconds() + 1)
    taken: list[tuple[str, int]] = []
    barrier = threading.Barrier(3)

    def take(me: str) -> None:
        barrier.wait()
        while (got := claim_stale(engine, me)) is not None:
            taken.append((me, got[0]))

    threads = [threading.Thread(target=take, args=(f"runner-{i}:1",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(search_id for _, search_id in taken) == ids
    assert all(row(engine, search_id).runner == me for me, search_id in taken)

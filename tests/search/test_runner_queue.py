"""The runner's queue loop under Ray Tune (the fast fake trainable, one Ray runtime shared by
the module): oldest first and exactly once, several at once, cancel, a stale takeover, SIGTERM,
and the issue's two runners on one PostgreSQL database with a kill -9."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from search import service
from search.records.db import Search, Trial, session_scope
from search.records.lifecycle import create_search
from search.run.driver import run_search
from search.run.runner import Runner
from tests.search.search_helpers import fake_trainable, tiny_spec

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.background]
ROOT = Path(__file__).resolve().parents[2]
TRAINABLE = "tests.search.search_helpers:fake_trainable"
FINISHED = ("completed", "pruned", "failed", "duplicate")

# A runner process as `convnas runner` runs one (serve_queue: signals stop it), with the fake
# trainable; it prints its status lines to the file the test reads.
RUNNER_SCRIPT = textwrap.dedent(
    """
    from datetime import timedelta
    from pathlib import Path
    from search.records.db import create_db_engine
    from search.run.runner import serve_queue
    serve_queue(create_db_engine({url!r}), ray_address={address!r}, runs_dir=Path({runs!r}),
                poll_seconds=0.3, stale_after=timedelta(seconds={stale}), runner_id={rid!r},
                trainable={trainable!r}, trial_config={{"sleep": {sleep}}})
    """
)


@pytest.fixture(autouse=True)
def helpers_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runner and driver processes import the fake trainable by name (``--trainable``
    tests.search.search_helpers:fake_trainable): the checkout is on their path."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get(
        "PYTHONPATH")])))  # fmt: skip


def search_row(engine: Engine, search_id: int) -> Search:
    with session_scope(engine) as s:
        found = s.get(Search, search_id)
        assert found is not None
        return found


def trials_of(engine: Engine, search_id: int) -> list[Trial]:
    with session_scope(engine) as s:
        query = select(Trial).where(Trial.search_id == search_id).order_by(Trial.number)
        return list(s.scalars(query))


def statuses(engine: Engine, search_id: int) -> list[str]:
    return [t.status for t in trials_of(engine, search_id)]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@contextmanager
def runner_thread(runner: Runner) -> Iterator[threading.Thread]:
    """``runner`` looping in a thread of this process, stopped (its drivers too) at the end."""
    stop = threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=120)
        assert not thread.is_alive(), "the runner did not stop"


@contextmanager
def runner_process(
    url: str, address: str, runs: Path, out: Path, *, sleep: float, stale: float = 60.0
) -> Iterator[subprocess.Popen[bytes]]:
    """A runner process (killed with its drivers at the end, whatever happened)."""
    code = RUNNER_SCRIPT.format(
        url=url, address=address, runs=str(runs), stale=stale, rid=None,
        trainable=TRAINABLE, sleep=sleep,
    )  # fmt: skip
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # its drivers die with it (PDEATHSIG)
                proc.wait()


def test_the_loop_runs_queued_searches_oldest_first_each_once_two_at_a_time(
    engine: Engine, db_url: str, ray_address: str, tmp_path: Path
) -> None:
    ids = [
        create_search(engine, tiny_spec(name=name, trials=2, concurrency=2, epochs=1))
        for name in ("a", "b", "c")
    ]
    lines: list[str] = []
    runner = Runner(
        engine, ray_address=ray_address, runs_dir=tmp_path, poll_seconds=0.3, max_searches=2,
        say=lines.append, trainable=TRAINABLE,
    )  # fmt: skip
    with runner_thread(runner):
        wait_for(
            "three searches to succeed",
            lambda: all(search_row(engine, i).status == "succeeded" for i in ids),
        )
        wait_for("the runner to settle them", lambda: not runner.driving)
    rows = [search_row(engine, i) for i in ids]
    a, b, c = rows
    assert all(r.started_at is not None and r.finished_at is not None for r in rows)
    assert a.started_at <= b.started_at < c.started_at  # type: ignore[operator]
    assert b.started_at < a.finished_at  # type: ignore[operator]  # two at once
    assert c.started_at >= min(a.finished_at, b.finished_at)  # type: ignore[type-var,operator]
    for search_id in ids:  # exactly once: the requested trials, nothing rerun
        assert statuses(engine, search_id) == ["completed", "completed"]
    claims = [line for line in lines if line.endswith(" claimed")]
    assert [line.split("(")[1].split(")")[0] for line in claims] == ["a", "b", "c"], lines
    assert sum(" succeeded: 2/2 trials finished" in line for line in lines) == 3, lines


def test_a_cancel_stops_the_search_the_runner_drives(
    engine: Engine, ray_address: str, tmp_path: Path
) -> None:
    search_id = create_search(engine, tiny_spec(trials=6, concurrency=2, epochs=3))
    lines: list[str] = []
    runner = Runner(
        engine, ray_address=ray_address, runs_dir=tmp_path, poll_seconds=0.3,
        say=lines.append, trainable=TRAINABLE, trial_config={"sleep": 1.0},
    )  # fmt: skip
    with runner_thread(runner):
        wait_for("a running trial", lambda: "running" in statuses(engine, search_id))
        service.cancel(engine, search_id)
        wait_for("the search to end", lambda: search_row(engine, search_id).status != "running")
        wait_for("the runner to settle it", lambda: not runner.driving)
    assert search_row(engine, search_id).status == "cancelled"
    assert "running" not in statuses(engine, search_id)
    assert any(" cancelled: " in line for line in lines), lines


def test_a_search_whose_runner_went_quiet_is_taken_over_and_finished(
    engine: Engine, ray_address: str, tmp_path: Path
) -> None:
    """A driver on "another host" (its runner name: only the heartbeat tells whether it
    lives) is killed mid-search; a runner takes the search over once the heartbeat is older
    than its --stale-after, and finishes it to the exact trial count, as a resume would."""
    search_id = create_search(engine, tiny_spec(trials=4, concurrency=2, epochs=2))
    url = engine.url.render_as_string(hide_password=False)
    command = [sys.executable, "-m", "search.run.runner", "--search", str(search_id)]
    command += ["--runner", "elsewhere:1", "--parent", str(os.getpid()), "--runs-dir"]
    command += [str(tmp_path), "--address", ray_address, "--trainable", TRAINABLE]
    command += ["--trial-config", '{"sleep": 1.0}']
    env = {**os.environ, "CONVNAS_DATABASE_URL": url}
    from search.records.lifecycle import claim_next

    assert claim_next(engine, "elsewhere:1") == search_id
    driver = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        wait_for("a running trial", lambda: "running" in statuses(engine, search_id))
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    assert "running" in statuses(engine, search_id)
    lines: list[str] = []
    runner = Runner(
        engine, ray_address=ray_address, runs_dir=tmp_path, poll_seconds=0.3,
        stale_after=timedelta(seconds=3), say=lines.append, trainable=TRAINABLE,
    )  # fmt: skip
    with runner_thread(runner):
        wait_for("the takeover to succeed", lambda: search_row(engine, search_id).status
                 == "succeeded")  # fmt: skip
    assert any("taken over from elsewhere:1" in line for line in lines), lines
    found = statuses(engine, search_id)
    assert sum(s in FINISHED for s in found) == 4 and "interrupted" in found, found


def test_sigterm_stops_the_runner_cleanly_and_the_search_resumes_exactly(
    engine: Engine, ray_address: str, tmp_path: Path
) -> None:
    search_id = create_search(engine, tiny_spec(trials=6, concurrency=2, epochs=3))
    url = engine.url.render_as_string(hide_password=False)
    out = tmp_path / "runner.out"
    with runner_process(url, ray_address, tmp_path / "runs", out, sleep=1.0) as proc:
        wait_for("a running trial", lambda: "running" in statuses(engine, search_id))
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=90)
        took = time.monotonic() - stopped
    said = out.read_text()
    assert code == 0, said
    assert took < 60, f"the runner took {took:.0f}s to stop"
    found = search_row(engine, search_id)
    assert found.status == "queued", (found.status, found.error, said)  # for the next runner
    cut = statuses(engine, search_id)
    assert "running" not in cut and "cancelled" in cut, cut  # nothing half-recorded
    assert "queued again to continue" in said, said
    outcome = run_search(
        engine, search_id, ray_address=ray_address, runs_dir=tmp_path, trainable=fake_trainable
    )
    assert outcome.status == "succeeded" and outcome.finished == 6, outcome
    after = statuses(engine, search_id)
    assert sum(s in FINISHED for s in after) == 6, after
    assert outcome.summary().startswith("6/6 trials finished")


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_two_runners_on_postgres_run_each_search_once_and_survive_a_kill_9(
    engine: Engine, db_url: str, ray_address: str, tmp_path: Path
) -> None:
    """The issue's test: two runner processes, three queued searches; kill -9 the runner of
    one search mid-search: the other finishes that search to the exact trial count (and the
    rest), and no search is ever driven twice."""
    ids = [
        create_search(engine, tiny_spec(name=name, trials=4, concurrency=1, epochs=2))
        for name in ("a", "b", "c")
    ]
    outs = [tmp_path / "r1.out", tmp_path / "r2.out"]
    with (
        runner_process(db_url, ray_address, tmp_path / "runs", outs[0], sleep=1.0) as r1,
        runner_process(db_url, ray_address, tmp_path / "runs", outs[1], sleep=1.0) as r2,
    ):
        procs = {r1.pid: r1, r2.pid: r2}

        def both_mid_search() -> bool:
            busy = [i for i in ids if "running" in statuses(engine, i)]
            return len(busy) == 2

        wait_for("both runners mid-search", both_mid_search)
        victim_search = min(i for i in ids if search_row(engine, i).status == "running")
        victim_runner = search_row(engine, victim_search).runner
        assert victim_runner is not None
        victim = procs[int(victim_runner.rpartition(":")[2])]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        wait_for(
            "every search to succeed",
            lambda: all(search_row(engine, i).status == "succeeded" for i in ids),
            timeout=300,
        )
        survivor = next(p for p in procs.values() if p is not victim)
        assert survivor.poll() is None
    said = {path.name: path.read_text() for path in outs}
    text = "\n".join(said.values())
    for search_id in ids:
        found = statuses(engine, search_id)
        assert sum(s in FINISHED for s in found) == 4, (search_id, found, text)
        if search_id != victim_search:  # driven once, start to end: nothing cut, nothing rerun
            assert len(found) == 4, (search_id, found, text)
    assert "interrupted" in statuses(engine, victim_search)
    # Each search claimed once; the killed runner's search taken over once, by the survivor.
    for search_id in ids:
        assert text.count(f"search {search_id} (") >= 1
        assert text.count(f"search {search_id} ({'abc'[ids.index(search_id)]}) claimed") == 1
    assert text.count("taken over from") == 1, text
    assert f"{socket.gethostname()}:{victim.pid}" in victim_runner

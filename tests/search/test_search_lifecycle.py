"""A search's life without Ray: claim, heartbeat, stop reasons, finalize, driver liveness."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from search.records.db import Search, session_scope, utcnow
from search.records.lifecycle import (
    STALE_AFTER,
    SearchStateError,
    claim,
    create_search,
    driver_is_alive,
    finalize,
    heartbeat,
    runner_id,
    stop_reason,
)
from tests.search.search_helpers import tiny_spec
from tests.search.service_helpers import row


def dead_runner() -> str:
    """A runner name on this host whose process has exited."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return f"{socket.gethostname()}:{proc.stdout.strip()}"


def test_heartbeat_is_true_only_for_the_runner_that_drives(engine: Engine) -> None:
    search_id = create_search(engine, tiny_spec())
    assert not heartbeat(engine, search_id, "a")  # queued: nobody drives it
    claim(engine, search_id, runner="a")
    assert heartbeat(engine, search_id, "a") and stop_reason(engine, search_id, "a") is None
    assert not heartbeat(engine, search_id, "b")
    with session_scope(engine) as s:
        found = s.get(Search, search_id)
        assert found is not None
        found.cancel_requested = True
    assert not heartbeat(engine, search_id, "a")
    assert stop_reason(engine, search_id, "a") == "search cancelled"


def test_a_forced_takeover_stops_the_old_driver_and_keeps_its_hands_off(engine: Engine) -> None:
    search_id = create_search(engine, tiny_spec())
    claim(engine, search_id, runner="host-a:1")
    with pytest.raises(SearchStateError) as refused:
        claim(engine, search_id, runner="host-b:2")
    message = str(refused.value)
    assert "being driven by host-a:1" in message and "force=true" in message
    assert "--force" not in message  # fields, not CLI flags
    claim(engine, search_id, runner="host-b:2", force=True)
    assert not heartbeat(engine, search_id, "host-a:1")
    reason = stop_reason(engine, search_id, "host-a:1")
    assert reason == f"search {search_id} is now running, driven by host-b:2"
    # The old driver's finalize is refused; the new one's is written.
    assert not finalize(engine, search_id, "failed", "old driver", runner="host-a:1")
    assert row(engine, search_id).status == "running"
    assert finalize(engine, search_id, "succeeded", None, runner="host-b:2")
    found = row(engine, search_id)
    assert found.status == "succeeded" and found.finished_at is not None


def test_driver_liveness_and_claiming_after_a_dead_driver(engine: Engine) -> None:
    search_id = create_search(engine, tiny_spec())
    claim(engine, search_id, runner=runner_id())
    assert driver_is_alive(row(engine, search_id))  # this very process, fresh heartbeat
    with session_scope(engine) as s:
        found = s.get(Search, search_id)
        assert found is not None
        found.runner = dead_runner()
    assert not driver_is_alive(row(engine, search_id))  # its process is gone
    claim(engine, search_id, runner="next:1")  # no force needed
    with session_scope(engine) as s:
        found = s.get(Search, search_id)
        assert found is not None
        found.heartbeat_at = utcnow() - STALE_AFTER - timedelta(seconds=1)
    assert not driver_is_alive(row(engine, search_id))  # another host, stale heartbeat
    claim(engine, search_id, runner="third:1")
    assert row(engine, search_id).runner == "third:1"


def test_interrupted_keeps_no_finish_time_and_can_be_claimed(engine: Engine) -> None:
    search_id = create_search(engine, tiny_spec())
    claim(engine, search_id, runner="a")
    finalize(engine, search_id, "interrupted", "Ctrl-C")
    found = row(engine, search_id)
    assert found.status == "interrupted" and found.finished_at is None and found.error == "Ctrl-C"
    claim(engine, search_id, runner="b")
    found = row(engine, search_id)
    assert found.status == "running" and found.error is None and not found.cancel_requested


def test_lifecycle_loads_no_training_stack_and_the_driver_no_ray() -> None:
    """The service layer and a runner's queue loop import the lifecycle; the driver imports the
    Tune adapters (and so Ray) only once a run starts."""
    code = (
        "import sys\n"
        "import search.records.lifecycle\n"
        "print(sorted(m for m in ('torch', 'ray', 'optuna') if m in sys.modules))\n"
        "import search.run.driver\n"
        "print(sorted(m for m in ('torch', 'ray') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"], out.stdout


def test_a_stored_spec_that_no_longer_validates_fails_the_search(engine: Engine) -> None:
    search_id = create_search(engine, tiny_spec())
    with session_scope(engine) as s:
        found = s.get(Search, search_id)
        assert found is not None
        found.spec = {**found.spec, "layers": "not a list"}
    with pytest.raises(SearchStateError, match=f"search {search_id} cannot run: its stored spec"):
        claim(engine, search_id, runner="a")
    found = row(engine, search_id)
    assert found.status == "failed" and "layers" in (found.error or "") and found.runner is None

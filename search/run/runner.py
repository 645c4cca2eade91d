"""Running searches: in this process (``convnas search run|resume``: :func:`start`,
:func:`resume`), or from the queue (``convnas runner``: :class:`Runner`).

The service only moves records between states; running one takes Ray and the Optuna study, and
happens here. Every check that can fail without spending anything (the Ray address, the runs
folder, a writable database, the spec and its dataset) happens before a search is recorded or
claimed.

A :class:`Runner` claims queued searches (oldest first), and running searches whose runner went
quiet (:func:`search.records.lifecycle.claim_stale`), and drives each in a process of its own
(``python -m search.run.runner``, which calls :func:`search.run.driver.run_search` in its main
thread). One process per search rather than one thread: ``run_search`` changes process-wide state
(it starts and shuts down the process's Ray, sets the trainable's Tune resources on the function
object, environment variables and logger levels for the run, and only the main thread gets Tune's
signal handling), so two searches in one process would step on each other; a process also keeps a
crash or a leak to its one search, and the runner itself light (no Ray, no torch). The runner
heartbeats its searches too, so a driver that is still starting Ray never looks dead. A driver
process dies with its runner (``PR_SET_PDEATHSIG``), so a runner killed with ``kill -9`` leaves
searches that another runner takes over; a runner stopped with SIGTERM/SIGINT asks its drivers to
stop (trials cut short are recorded as cancelled, the search as interrupted) and puts their searches
back in the queue, where the next runner continues them to their trial count.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from search import logs, service
from search.records import lifecycle, runners
from search.records.storage import RunsDir, RunsLocation
from search.run.cluster import Backoff, can_drive
from search.run.driver import RunOutcome, run_search
from search.run.preflight import check_run_inputs
from search.settings import get_settings
from space.errors import ConvnasError
from space.spec import SearchSpec
from space.status import SearchStatus

if TYPE_CHECKING:
    from search.run.tune_adapters import Reporter

Announce = Callable[[service.SearchOut, SearchSpec], None]
Say = Callable[[str], None]

log = logging.getLogger("convnas.runner")

POLL_SECONDS = 2.0
# How long a stopping runner waits for its drivers to record their stop before it kills them.
STOP_GRACE_SECONDS = 60.0
# A driver process reads its database URL here (never on the command line, where ps shows it).
DATABASE_ENV = "CONVNAS_DATABASE_URL"
STOP_NOTE = "its runner is stopping"


def start(
    engine: Engine,
    document: service.SpecInput,
    *,
    ray_address: str | None = None,
    runs_dir: RunsDir | RunsLocation | None = None,
    reporter: Reporter | None = None,
    announce: Announce | None = None,
) -> RunOutcome:
    """Check the run's inputs, record ``document`` as a new search and drive it to its end."""
    spec = service.load(document)
    address, runs = check_run_inputs(engine, ray_address, runs_dir)
    search = service.submit(engine, spec, ray_address=ray_address)
    if announce is not None:
        announce(search, spec)
    return run_search(engine, search.id, ray_address=address, runs_dir=runs, reporter=reporter)


def resume(
    engine: Engine,
    ref: str | int,
    *,
    force: bool = False,
    ray_address: str | None = None,
    runs_dir: RunsDir | RunsLocation | None = None,
    reporter: Reporter | None = None,
) -> RunOutcome:
    """Queue a stopped search again (the service's rules) and drive it here."""
    address, runs = check_run_inputs(engine, ray_address, runs_dir)
    queued = service.resume(engine, ref, force=force).search
    assert queued is not None  # resume returns the search it queued
    return run_search(engine, queued.id, ray_address=address, runs_dir=runs, reporter=reporter)


# --------------------------------------------------------------------------------------------
# The queue loop
# --------------------------------------------------------------------------------------------


@dataclass
class _Driving:
    """A search this runner drives, and the process driving it."""

    search_id: int
    proc: subprocess.Popen[bytes]


class Runner:
    """Claims searches from the queue and drives up to ``max_searches`` at once.

    ``trainable`` (``module:function``) and ``trial_config`` are passed to ``run_search`` in
    each driver process, for tests and benchmarks.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        runner_id: str | None = None,
        max_searches: int = 1,
        ray_address: str | None = None,
        runs_dir: RunsDir | RunsLocation | None = None,
        poll_seconds: float = POLL_SECONDS,
        stale_after: timedelta = lifecycle.STALE_AFTER,
        stop_grace: float = STOP_GRACE_SECONDS,
        say: Say | None = None,
        trainable: str | None = None,
        trial_config: dict[str, Any] | None = None,
    ):
        if max_searches < 1:
            raise ConvnasError(f"max_searches: must be at least 1, got {max_searches}")
        if engine.url.get_backend_name() == "sqlite" and engine.url.database in (None, ":memory:"):
            raise ConvnasError("database: an in-memory SQLite database cannot be shared")
        self.engine = engine
        self.id = runner_id or lifecycle.runner_id()
        self.max_searches = max_searches
        self.ray_address = ray_address
        self.runs_dir = runs_dir
        self.poll_seconds = poll_seconds
        self.stale_after = stale_after
        self.stop_grace = stop_grace
        self._say = say or self._print_or_log
        self._trainable = trainable
        self._trial_config = trial_config
        self._driving: list[_Driving] = []
        self._stopping = False
        self._last_beat = 0.0
        self._last_problem: str | None = None
        self._backoff = Backoff()
        self._waiting: str | None = None  # why it cannot drive a search now
        self._reported: tuple[str, str | None] = ("", None)
        self._reported_at = 0.0

    # -- the loop -------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event, force: threading.Event | None = None) -> None:
        """Claim and drive searches until ``stop`` is set; then stop the drivers (at once once
        ``force`` is set) and put their searches back in the queue."""
        where = self.engine.url.render_as_string(hide_password=True)
        self.say(f"watching {where} (up to {self.max_searches} search(es) at once)")
        with contextlib.suppress(SQLAlchemyError):
            runners.forget_old_runners(self.engine)
        try:
            while not stop.is_set():
                self.step()
                stop.wait(self.poll_seconds)
        finally:
            self._shutdown(force or threading.Event())
        self._report("stopped", force=True)
        self.say("stopped")

    def step(self) -> None:
        """Settle drivers that ended, heartbeat the others, and fill free slots from the queue."""
        try:
            self._reap()
            self._beat()
            if len(self._driving) < self.max_searches and self._can_claim():
                while len(self._driving) < self.max_searches and self._claim_one():
                    pass
            state = "waiting" if self._waiting else "driving" if self._driving else "ready"
            self._report(state)
        except (SQLAlchemyError, ConvnasError) as exc:  # the database went away: retry later
            self._problem(f"{type(exc).__name__}: {exc}".splitlines()[0])

    def _can_claim(self) -> bool:
        """Whether there is a search to claim and this runner can drive it now: with a Ray
        address, a driver here must be able to connect (:func:`search.run.cluster.can_drive`).
        While it cannot, the queue is left alone and the check retried with a growing wait."""
        if not lifecycle.anything_to_claim(self.engine, self.id, self.stale_after):
            return False
        address = self.ray_address or get_settings().ray_address
        if address is None:
            return True
        if not self._backoff.due():
            return False
        reason = can_drive(address)
        if reason is None:
            if self._waiting:
                self.say("the Ray cluster answers again: claiming")
            self._backoff.succeeded()
            self._waiting = None
            return True
        wait = self._backoff.failed()
        if reason != self._waiting:
            self.say(f"waiting: {reason} (searches stay queued; next try in {wait:g}s, up to 60s)")
        self._waiting = reason
        return False

    def _report(self, state: str, force: bool = False) -> None:
        """Write what this runner does (for /health) with the heartbeat's rhythm."""
        every = min(lifecycle.HEARTBEAT_SECONDS, self.stale_after.total_seconds() / 4)
        now, same = time.monotonic(), (state, self._waiting) == self._reported
        if not force and same and now - self._reported_at < every:
            return
        runners.report_runner(self.engine, self.id, state, self._waiting, self.driving)
        self._reported, self._reported_at = (state, self._waiting), now

    def say(self, line: str) -> None:
        self._say(f"runner {self.id}: {line}")

    def _print_or_log(self, line: str) -> None:
        if logs.json_logs():
            log.info(line)
        else:
            print(line, flush=True)

    @property
    def driving(self) -> list[int]:
        """The ids of the searches this runner drives now."""
        return [d.search_id for d in self._driving]

    def _problem(self, message: str) -> None:
        if message != self._last_problem:  # once, not every poll
            self.say(f"{message}; retrying every {self.poll_seconds:g}s")
        self._last_problem = message

    def _claim_one(self) -> bool:
        taken = lifecycle.claim_stale(self.engine, self.id, self.stale_after)
        if taken is not None:
            search_id, previous = taken
            how = f"taken over from {previous} (its heartbeat stopped)"
        else:
            found = lifecycle.claim_next(self.engine, self.id)
            if found is None:
                return False
            search_id, how = found, "claimed"
        try:
            address, runs = check_run_inputs(self.engine, self.ray_address, self.runs_dir)
        except ConvnasError as exc:  # nothing spent: the next runner (or a later try) runs it
            lifecycle.requeue(self.engine, search_id, self.id)
            self._problem(f"cannot run search {search_id}: {exc}")
            return False
        try:
            proc = self._spawn(search_id, address, runs)
        except OSError as exc:
            lifecycle.requeue(self.engine, search_id, self.id)
            self._problem(f"cannot start a driver process: {exc}")
            return False
        self._last_problem = None
        self._driving.append(_Driving(search_id, proc))
        with logs.about(search_id=search_id):
            self.say(f"{self._describe(search_id)} {how}")
        return True

    def _spawn(
        self, search_id: int, address: str | None, runs: RunsLocation
    ) -> subprocess.Popen[bytes]:
        args = ["--search", str(search_id), "--runner", self.id, "--parent", str(os.getpid())]
        args += ["--runs-dir", str(runs)]
        if address:
            args += ["--address", address]
        elif self.max_searches > 1:  # local Rays side by side share this machine's cores
            args += ["--num-cpus", str(max(1, (os.cpu_count() or 1) // self.max_searches))]
        if self._trainable:
            args += ["--trainable", self._trainable]
        if self._trial_config is not None:
            args += ["--trial-config", json.dumps(self._trial_config)]
        env = dict(os.environ)
        env[DATABASE_ENV] = self.engine.url.render_as_string(hide_password=False)
        # Its own session: a Ctrl-C in the runner's terminal reaches the runner, which stops
        # its drivers in order, rather than every driver and Ray process at once.
        command = [sys.executable, "-m", "search.run.runner", *args]  # no shell: a list of strings
        return subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603

    def _beat(self) -> None:
        every = min(lifecycle.HEARTBEAT_SECONDS, self.stale_after.total_seconds() / 4)
        if time.monotonic() - self._last_beat < every:
            return
        self._last_beat = time.monotonic()
        for driving in self._driving:
            lifecycle.heartbeat(self.engine, driving.search_id, self.id)

    def _reap(self) -> None:
        for driving in list(self._driving):
            code = driving.proc.poll()
            if code is not None:
                self._driving.remove(driving)
                with logs.about(search_id=driving.search_id):
                    self._settle(driving.search_id, code)

    def _settle(self, search_id: int, code: int) -> None:
        """Record what a driver that ended left unrecorded, and say how its search ended."""
        if self._stopping:
            if lifecycle.requeue(self.engine, search_id, self.id):
                self.say(f"{self._describe(search_id)} stopped; queued again to continue")
                return
        else:  # a no-op when the driver recorded how the search ended, as it should
            why = f"signal {-code}" if code < 0 else f"code {code}"
            note = f"its driver process exited with {why} before recording an outcome"
            if lifecycle.recover(self.engine, search_id, self.id, note):
                # A head lost for Ray's GCS timeout ends the driver process this way: the search
                # is resumed once the cluster answers again (self._can_claim).
                self.say(f"{self._describe(search_id)} lost its driver ({note}): queued again")
                self._backoff.failed()  # check the cluster before claiming it back
                return
        self.say(self._describe(search_id, ended=True))

    def _describe(self, search_id: int, *, ended: bool = False) -> str:
        try:
            found = service.get_search(self.engine, search_id)
        except service.NotFound:
            return f"search {search_id} (deleted)"
        text = f"search {found.id} ({found.name})"
        if ended:
            text += f" {found.status}: {found.finished}/{found.requested} trials finished"
            if found.note:
                text += f" ({found.note})"
        return text

    def _shutdown(self, force: threading.Event) -> None:
        """Ask each driver to stop, wait for them (heartbeating, so nobody takes their searches
        meanwhile) up to ``stop_grace`` or until ``force``, then kill what is left."""
        self._stopping = True
        if self._driving:
            self.say(f"stopping {len(self._driving)} search(es) (up to {self.stop_grace:g}s)")
        for driving in self._driving:
            _signal(driving.proc, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace
        while self._driving:
            if force.is_set() or time.monotonic() > deadline:
                for driving in self._driving:
                    _kill_group(driving.proc)
            try:
                self._reap()
                self._beat()
            except (SQLAlchemyError, ConvnasError) as exc:
                self._problem(f"{type(exc).__name__}: {exc}".splitlines()[0])
            time.sleep(0.2)


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """The driver and whatever it started in its session (its local Ray)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        _signal(proc, signal.SIGKILL)
    proc.wait()


def serve_queue(engine: Engine, **options: Any) -> None:
    """Run a :class:`Runner` (``options``: its keyword arguments) in this, the main, thread
    until SIGTERM or SIGINT; a second signal kills its drivers without waiting."""
    stop, force = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        (force if stop.is_set() else stop).set()

    runner = Runner(engine, **options)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        runner.run_forever(stop, force)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exit_with_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """Have this process receive ``sig`` when its parent ``parent`` dies (Linux: the kernel's
    ``PR_SET_PDEATHSIG``; elsewhere a thread that watches the parent)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(sig), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    else:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os.kill(os.getpid(), sig)

        threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), sig)


# --------------------------------------------------------------------------------------------
# One driver process: python -m search.run.runner --search ID --runner ID --parent PID ...
# --------------------------------------------------------------------------------------------


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m search.run.runner")
    parser.add_argument("--search", type=int, required=True)
    parser.add_argument("--runner", required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--runs-dir", required=True)
    parser.add_argument("--address")
    parser.add_argument("--num-cpus", type=int)
    parser.add_argument("--trainable")
    parser.add_argument("--trial-config")
    return parser.parse_args(argv)


def _load_trainable(path: str) -> Callable[[dict[str, Any]], Any]:
    import ray

    module_name, _, name = path.partition(":")
    module = importlib.import_module(module_name)
    # Ray's workers may not be able to import it
    ray.cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]
    trainable: Callable[[dict[str, Any]], Any] = getattr(module, name)
    return trainable


def _tagged(prefix: str, line: str) -> str:
    """A progress line that names its search (progress lines do; trial lines do not)."""
    line = line.strip()
    return line if prefix.strip() in line else prefix + line


def drive(argv: Sequence[str]) -> int:
    """Drive one search a runner claimed; exit status 0 once its outcome is recorded.

    SIGTERM makes it stop at the search's next poll (trials cut short recorded as cancelled,
    the search as interrupted). Ray installs its own SIGTERM handler (an exit) when it starts,
    so Ray is started here first and the handler set after it.
    """
    args = _arguments(argv)
    exit_with_parent(args.parent)
    signal.signal(signal.SIGTERM, _stop_here)
    from search.records.db import create_db_engine
    from search.settings import get_settings

    # The runner put the URL in DATABASE_ENV; read like every other setting (validated).
    settings = get_settings()
    logs.configure(settings.log_format)
    engine = create_db_engine(settings.database_url, migrate=False)
    with logs.about(search_id=args.search):
        return _drive(engine, args)


def _drive(engine: Engine, args: argparse.Namespace) -> int:
    prefix = f"search {args.search}: "
    started_ray = False
    try:
        trainable = _load_trainable(args.trainable) if args.trainable else None
        address, started_ray = _start_ray(engine, args)
        signal.signal(signal.SIGTERM, _stop_here)  # again: Ray's replaced it
        outcome = run_search(
            engine,
            args.search,
            ray_address=address,
            runs_dir=args.runs_dir,
            runner=args.runner,
            trainable=trainable,
            trial_config=json.loads(args.trial_config) if args.trial_config else None,
            reporter=lambda progress: print(_tagged(prefix, progress.line()), flush=True),
        )
    except Exception as exc:  # recorded on the search, so that no dead claim holds it
        note = f"{type(exc).__name__}: {exc}"[:4000]
        if lost_cluster(exc):  # resumed once the cluster answers again, a bounded number of times
            lifecycle.recover(engine, args.search, args.runner, f"its driver lost Ray: {note}")
        else:
            lifecycle.release(engine, args.search, args.runner, SearchStatus.FAILED, note)
        print(prefix + note, file=sys.stderr, flush=True)
        return 1
    finally:
        engine.dispose()
        if started_ray:
            import ray

            ray.shutdown()
    print(prefix + outcome.summary(), flush=True)
    return 0


def lost_cluster(exc: BaseException) -> bool:
    """Whether ``exc`` says the Ray cluster went away (``ray.init`` cannot connect, the GCS or a
    raylet stopped answering) rather than that the search itself is wrong."""
    module = type(exc).__module__ or ""
    return isinstance(exc, ConnectionError | TimeoutError) or module.split(".")[0] == "ray"


def _stop_here(signum: int, frame: object) -> None:
    lifecycle.stop_drivers(STOP_NOTE)


def _start_ray(engine: Engine, args: argparse.Namespace) -> tuple[str | None, bool]:
    """Connect to the runner's Ray address (else the one stored with the search, as
    ``run_search`` would choose it) or start a local Ray; returns the address and whether Ray
    was started here."""
    from search.records import repository as repo
    from search.records.db import session_scope
    from search.run.tune_adapters import ensure_ray

    with session_scope(engine) as s:
        stored = repo.resolve_search(s, args.search).ray_address
    address, _ = check_run_inputs(engine, args.address or stored, args.runs_dir)
    return address, ensure_ray(address, args.num_cpus)


if __name__ == "__main__":
    sys.exit(drive(sys.argv[1:]))

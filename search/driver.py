"""The Ray Tune driver: one search run from its records to its end (or a clean stop).

Ray Tune's ``Tuner`` runs the trials with an ``OptunaSearch`` whose suggestions come from the
:class:`~search.ledger.Ledger` (define-by-run through the DSL; duplicates and over-budget candidates
are settled there without a worker), ASHA on the per-epoch validation accuracy for one objective
and FIFO otherwise, the spec's concurrency and per-trial resources, and a stopper that polls the
search's cancel flag and wall-clock budget. Callbacks record trial start, every epoch, completion,
early stop and failure.

Resuming (``convnas search resume ID``, also after ``kill -9``) is the same call: the ledger marks
trials left running as interrupted, settles the Optuna study left behind, and the run proposes
exactly the trials still missing. Ray Tune's own experiment restore is not used: the database is
the state.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from search import repository as repo
from search.db import Search, get_engine, session_scope, utcnow
from search.ledger import Ledger, open_study
from search.progress import Progress, TrialDone
from search.settings import database_url, get_settings
from space.errors import ConvnasError
from space.spec import SearchSpec, spec_from_data

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
# A running search whose heartbeat is older than this has lost its driver.
STALE_AFTER = timedelta(seconds=60)
POLL_SECONDS = 1.0
PROGRESS_SECONDS = 5.0
# One Ray actor (a worker process with torch and the dataset loaded) trains trial after trial
# instead of a new process per trial: starting one costs seconds of imports on a small machine,
# which was most of the per-trial overhead. Safe because a trial depends on its config alone (the
# trainable seeds its model and data order and sets its threads per trial); an actor whose
# trial raised is not reused (Ray Tune discards it).
REUSE_ACTORS = True

# Gets a Progress every PROGRESS_SECONDS and a TrialDone as each trial settles (both have line()).
Reporter = Callable[[Progress | TrialDone], None]


class SearchStateError(ConvnasError):
    """A search that cannot be run or resumed in its current state (the message says why)."""


@dataclass(frozen=True)
class RunOutcome:
    search_id: int
    status: str
    finished: int
    requested: int
    note: str | None
    elapsed: float
    # Trials recorded but not counted towards ``requested`` (interrupted by a dead driver,
    # cancelled): status -> how many. Their budget went to other proposals.
    not_counted: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """``6/6 trials finished (2 interrupted, not counted)``."""
        extra = ", ".join(f"{n} {status}" for status, n in sorted(self.not_counted.items()) if n)
        return f"{self.finished}/{self.requested} trials finished" + (
            f" ({extra}, not counted)" if extra else ""
        )


# --------------------------------------------------------------------------------------------
# Creating and claiming searches
# --------------------------------------------------------------------------------------------


def create_search(engine: Engine, spec: SearchSpec, ray_address: str | None = None) -> int:
    """Store a validated spec as a queued search; returns its id."""
    with session_scope(engine) as s:
        search = repo.create_search(
            s,
            name=spec.name,
            spec=spec.model_dump(mode="json", by_alias=True, exclude_none=True),
            requested_trials=spec.search.trials,
            ray_address=ray_address,
        )
        return search.id


def runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _runner_alive(runner: str | None) -> bool:
    """Whether the process named by ``runner`` still lives (only knowable on this host)."""
    if not runner or ":" not in runner:
        return True
    host, _, pid = runner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine: trust the heartbeat alone
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def driver_is_alive(search: Search) -> bool:
    if search.status != "running":
        return False
    if search.heartbeat_at is None or utcnow() - search.heartbeat_at > STALE_AFTER:
        return False
    return _runner_alive(search.runner)


def claim(engine: Engine, search_id: int, *, force: bool = False) -> SearchSpec:
    """Mark the search running under this process; refuse finished or live-driven searches."""
    with session_scope(engine) as s:
        search = repo.resolve_search(s, search_id)
        if search.status in ("succeeded", "cancelled"):
            raise SearchStateError(
                f"search {search.id} ({search.name}) is {search.status}; nothing to run"
            )
        if driver_is_alive(search) and not force:
            raise SearchStateError(
                f"search {search.id} is being driven by {search.runner} (heartbeat "
                f"{(utcnow() - search.heartbeat_at).total_seconds():.0f}s ago); cancel it with "  # type: ignore[operator]
                f"`convnas search cancel {search.id}` or pass --force if that process is gone"
            )
        spec = spec_from_data(search.spec, source=f"search {search.id}")
        search.status = "running"
        search.runner = runner_id()
        search.heartbeat_at = utcnow()
        search.started_at = search.started_at or utcnow()
        search.finished_at = None
        search.cancel_requested = False
        search.error = None
        return spec


def _finalize(engine: Engine, search_id: int, status: str, note: str | None) -> None:
    with session_scope(engine) as s:
        search = s.get(Search, search_id)
        assert search is not None
        search.status = status
        search.error = note
        search.finished_at = utcnow() if status != "interrupted" else None
        search.heartbeat_at = utcnow()


# --------------------------------------------------------------------------------------------
# Ray Tune pieces
# --------------------------------------------------------------------------------------------


def _tune_classes() -> tuple[type, type, type]:
    """The Tune subclasses, defined on first use so that importing this module stays light."""
    from ray.tune import Callback, Stopper
    from ray.tune.search import Searcher
    from ray.tune.search.optuna import OptunaSearch

    class Unpicklable:
        """Tune pickles its config (searcher, callbacks, stopper) for its own experiment restore,
        which convnas never uses (the database is the state). The ledger holds an engine and a
        study that do not pickle, so these objects pickle to an empty shell."""

        def __getstate__(self) -> dict[str, Any]:
            return {}

        def __setstate__(self, state: dict[str, Any]) -> None:
            self.__dict__.update(state)

    class ConvnasSearch(Unpicklable, OptunaSearch):
        """OptunaSearch whose define-by-run proposals go through the ledger."""

        def __init__(self, ledger: Ledger, metric: str | list[str], mode: str | list[str]):
            self._ledger = ledger
            # A non-empty callable space makes OptunaSearch define-by-run; the study itself is
            # the ledger's (same storage, same name), so _setup_study just adopts it.
            super().__init__(
                space=self._unused_space, metric=metric, mode=mode, study_name="convnas"
            )

        @staticmethod
        def _unused_space(trial: Any) -> None:  # never called: suggest() is overridden
            return None

        def _setup_study(self, mode: Any) -> None:
            self._ot_study = self._ledger.study  # type: ignore[assignment]

        def suggest(self, trial_id: str) -> Any:  # a config, None (wait) or FINISHED
            proposal = self._ledger.propose(trial_id)
            if proposal is None:
                return Searcher.FINISHED if self._ledger.exhausted() else None
            return proposal.config

        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            # Tune skips this for a result that stops the trial; the callback records every
            # result instead (RecordCallback.on_trial_result).
            return None

        def on_trial_complete(
            self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
        ) -> None:
            self._ledger.finish(trial_id, result, error)

        # The database is the state; Tune's pickled searcher checkpoints are not needed (and
        # the ledger's engine and study would not pickle).
        def save(self, checkpoint_path: str) -> None:
            return None

        def restore(self, checkpoint_path: str) -> None:
            return None

        def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
            return None

    class RecordCallback(Unpicklable, Callback):
        """Trial start, errors with their message, checkpoints; progress lines."""

        def __init__(self, ledger: Ledger, reporter: Reporter | None, started: float):
            self._ledger = ledger
            self._reporter = reporter
            self._started = started
            self._last_report = 0.0

        def _number(self, trial: Any) -> int | None:
            return self._ledger.number_of(trial.trial_id)

        def on_trial_start(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            self._number(trial)
            self._ledger.started(trial.trial_id, None)

        def on_trial_result(
            self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
        ) -> None:
            self._ledger.report(trial.trial_id, result)

        def on_trial_error(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            number = self._number(trial)
            self._ledger.set_error(trial.trial_id, number, error_message(trial))

        def on_trial_complete(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            number = self._number(trial)
            checkpoint = getattr(trial, "checkpoint", None)
            path = getattr(checkpoint, "path", None)
            if number is not None and path:
                self._ledger.set_checkpoint(number, str(path))

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            now = time.monotonic()
            if self._reporter is None or now - self._last_report < PROGRESS_SECONDS:
                return
            self._last_report = now
            self._reporter(self._ledger.progress(now - self._started))

    class CancelStopper(Unpicklable, Stopper):
        """Polled every loop step: the cancel flag, the time budget, the heartbeat."""

        def __init__(self, ledger: Ledger, budget: float | None, started: float):
            self._ledger = ledger
            self._budget = budget
            self._started = started
            self._last_poll = 0.0
            self._last_beat = 0.0

        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            return False

        def stop_all(self) -> bool:
            if self._ledger.stop_reason is not None:
                return True
            now = time.monotonic()
            if self._budget is not None and now - self._started >= self._budget:
                self._ledger.stop_reason = f"time budget of {self._budget:g}s reached"
                return True
            if now - self._last_poll < POLL_SECONDS:
                return False
            self._last_poll = now
            beat = now - self._last_beat >= HEARTBEAT_SECONDS
            with session_scope(self._ledger.engine) as s:
                search = s.get(Search, self._ledger.search_id)
                assert search is not None
                if beat:
                    search.heartbeat_at = utcnow()
                    self._last_beat = now
                if search.cancel_requested:
                    self._ledger.stop_reason = "search cancelled"
                    return True
            return False

    return ConvnasSearch, RecordCallback, CancelStopper


def error_message(trial: Any) -> str:
    """The exception line of a failed trial's traceback (``ValueError: boom``)."""
    text = ""
    try:
        path = trial.error_file  # Tune writes the traceback there before on_trial_error
        if path and Path(path).is_file():
            text = Path(path).read_text(errors="replace")
        else:
            text = str(trial.get_error() or "")
    except Exception:  # the error file may be gone; the status alone is still recorded
        text = ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(("File ", "^", "~", "Failure #", "Traceback")):
            return line[:2000]
    return "the trial raised an error (no message recorded)"


def _trial_dirname(trial: Any) -> str:
    return f"trial_{trial.trial_id}"


def ensure_ray(address: str | None, num_cpus: int | None) -> bool:
    """Connect to ``address`` or start a local Ray; returns whether this call started it."""
    import ray

    if ray.is_initialized():
        return False
    if address:
        # An existing cluster's authentication is its operator's choice: RAY_AUTH_MODE and any
        # token are left exactly as the user set them.
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    else:
        # A local Ray started here lives only for this search, listens on this machine and is
        # shut down at its end; Ray's token authentication (on by default in recent releases)
        # then only adds a "Token authentication is enabled ..." warning to every run. Off by
        # default for this private instance, unless the user chose a mode themselves.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(
            num_cpus=num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    return True


def trial_resources(spec: SearchSpec) -> dict[str, float]:
    """The spec's per-trial resources, fitted to the cluster (no GPU there: CPU only)."""
    import ray

    available = ray.cluster_resources()  # type: ignore[no-untyped-call]
    cpu = min(spec.search.resources.cpu, float(available.get("CPU", 1.0)))
    gpu = spec.search.resources.gpu
    if gpu and not available.get("GPU"):
        log.warning("search.resources.gpu=%s but the Ray cluster has no GPU: training on CPU", gpu)
        gpu = 0.0
    return {"cpu": cpu, "gpu": gpu}


def default_trainable() -> Callable[[dict[str, Any]], Any]:
    from workers.trainable import train_arch

    return train_arch


def _scheduler(spec: SearchSpec, objectives: int) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if spec.scheduler == "asha" and objectives == 1:
        max_t = max(max_epochs(spec), 1)
        return ASHAScheduler(
            time_attr="training_iteration",
            metric="val_acc",
            mode="max",
            max_t=max_t,
            grace_period=asha_grace_period(max_t),
            reduction_factor=2,
        )
    if spec.scheduler == "asha":
        log.warning("ASHA needs one objective; this search has several: using FIFO")
    return FIFOScheduler()  # type: ignore[no-untyped-call]


# ASHA's first rung: no trial is stopped before this many epochs (or all of them, if fewer).
# One epoch of a short search is a few dozen noisy steps, and the accuracy after it says more
# about the learning rate's warm-up than about the architecture: cutting there is close to random.
ASHA_GRACE_EPOCHS = 2


def asha_grace_period(max_t: int) -> int:
    """Epochs every trial trains before ASHA may stop it: ``min(2, max_t)``."""
    return max(1, min(ASHA_GRACE_EPOCHS, max_t))


def max_epochs(spec: SearchSpec) -> int:
    """The most epochs any candidate can train (the bound ASHA's rungs are laid under)."""
    from space.params import domain_bounds, domain_of

    leaf = spec.training.epochs
    try:
        bounds = domain_bounds(domain_of(leaf))
    except Exception:
        bounds = None
    if bounds is not None:
        return int(bounds[1])
    return int(leaf) if isinstance(leaf, int) else 100


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def run_search(
    search_id: int,
    *,
    db_url: str | None = None,
    ray_address: str | None = None,
    trainable: Callable[[dict[str, Any]], Any] | None = None,
    reporter: Reporter | None = None,
    runs_dir: Path | None = None,
    num_cpus: int | None = None,
    trial_config: Mapping[str, Any] | None = None,
    force: bool = False,
) -> RunOutcome:
    """Drive (or resume) one search until it has its trials, is cancelled or runs out of time."""
    url = database_url(db_url)
    engine = get_engine(url)
    spec = claim(engine, search_id, force=force)
    started = time.monotonic()
    try:
        with session_scope(engine) as s:
            search = s.get(Search, search_id)
            assert search is not None
            study_name, requested = search.study_name, search.requested_trials
            address = ray_address or search.ray_address or get_settings().ray_address
        study = open_study(study_name, spec, url, requested)
        # Workers keep a checkpoint of each trial's best epoch, so that export --weights works.
        config = {"checkpoint": True} if trial_config is None else trial_config
        ledger = Ledger(engine, search_id, spec, study, trial_config=config)
        ledger.on_trial_done = reporter
        interrupted = ledger.reconcile()
        if interrupted:
            log.warning(
                "search %s: %d trial(s) were interrupted (kept as records); their budget goes "
                "to new proposals",
                search_id,
                interrupted,
            )
        if not ledger.exhausted():
            _tune(ledger, spec, address, trainable, reporter, runs_dir, num_cpus, started)
    except BaseException as exc:
        with session_scope(engine) as s:
            repo.mark_interrupted(s, search_id)
        interrupted_by_user = isinstance(exc, KeyboardInterrupt)
        status = "interrupted" if interrupted_by_user else "failed"
        _finalize(engine, search_id, status, None if interrupted_by_user else _short(exc))
        raise
    return _conclude(engine, ledger, started)


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:4000]


def _tune(
    ledger: Ledger,
    spec: SearchSpec,
    address: str | None,
    trainable: Callable[[dict[str, Any]], Any] | None,
    reporter: Reporter | None,
    runs_dir: Path | None,
    num_cpus: int | None,
    started: float,
) -> None:
    from ray import tune

    started_ray = ensure_ray(address, num_cpus)
    try:
        search_cls, callback_cls, stopper_cls = _tune_classes()
        objectives = ledger.objectives
        metric: str | list[str] = [o.metric for o in objectives]
        mode: str | list[str] = [o.goal for o in objectives]
        if len(objectives) == 1:
            metric, mode = objectives[0].metric, objectives[0].goal
        searcher = search_cls(ledger, metric, mode)
        runs = Path(runs_dir or get_settings().runs_dir).resolve()
        runs.mkdir(parents=True, exist_ok=True)
        fn = trainable or default_trainable()
        tuner = tune.Tuner(
            tune.with_resources(fn, trial_resources(spec)),
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                scheduler=_scheduler(spec, len(objectives)),
                num_samples=-1,  # the ledger decides when the search has its trials
                max_concurrent_trials=spec.search.concurrency,
                reuse_actors=REUSE_ACTORS,
                # Short folder names: Tune's default spells the whole arch config out.
                trial_dirname_creator=_trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=f"search-{ledger.search_id}-{int(time.time())}",
                storage_path=str(runs),
                stop=stopper_cls(ledger, spec.search.time_budget, started),
                callbacks=[callback_cls(ledger, reporter, started)],
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
            ),
        )
        # Tune's per-trial CSV/JSON/TensorBoard loggers duplicate what the database records; off
        # for this search only, so that a library user's own Tune runs in the process keep theirs.
        quiet_env = _scoped_env(TUNE_DISABLE_AUTO_CALLBACK_LOGGERS="1", RAY_AIR_NEW_OUTPUT="0")
        with quiet_env, quiet_tune():
            tuner.fit()
    finally:
        if started_ray:
            import ray

            ray.shutdown()


@contextmanager
def _scoped_env(**values: str) -> Iterator[None]:
    """Set environment variables the user has not set, and restore them afterwards."""
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


@contextmanager
def quiet_tune() -> Iterator[None]:
    """Ray Tune logs every failed trial's traceback and warns about the result files it was told
    not to write; the records hold each failure's message, and the progress lines show it."""
    names = ("ray.tune", "ray.train", "ray.air")
    saved = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _conclude(engine: Engine, ledger: Ledger, started: float) -> RunOutcome:
    reason = ledger.stop_reason
    ledger.close_unfinished(reason or "the driver stopped")
    with session_scope(engine) as s:
        finished = repo.finished_count(s, ledger.search_id)
        counts = repo.trial_counts(s, ledger.search_id)
        search = s.get(Search, ledger.search_id)
        assert search is not None
        cancelled = search.cancel_requested
    if cancelled:
        status, note = "cancelled", reason
    elif finished >= ledger.requested:
        status, note = "succeeded", None
    elif reason and reason.startswith("time budget"):
        status, note = "succeeded", f"{reason} after {finished} of {ledger.requested} trials"
    else:
        status, note = "interrupted", reason or "stopped before all trials finished"
    with session_scope(engine) as s:
        repo.mark_interrupted(s, ledger.search_id)
    _finalize(engine, ledger.search_id, status, note)
    not_counted = {k: counts[k] for k in ("interrupted", "cancelled") if counts.get(k)}
    return RunOutcome(
        ledger.search_id,
        status,
        finished,
        ledger.requested,
        note,
        time.monotonic() - started,
        not_counted,
    )


def resume_search(search_ref: str | int, **kwargs: Any) -> RunOutcome:
    """Continue a search whose driver stopped (interrupted, failed, or killed)."""
    engine = get_engine(kwargs.get("db_url"))
    with session_scope(engine) as s:
        search = repo.resolve_search(s, search_ref)
        search_id = search.id
    return run_search(search_id, **kwargs)

"""The Ray Tune driver: one search run from its records to its end (or a clean stop).

Ray Tune's ``Tuner`` runs the trials with a searcher whose suggestions come from the
:class:`~search.run.ledger.Ledger` (Optuna's ask/tell, define-by-run through the DSL; duplicates
and over-budget candidates are settled there without a worker), ASHA on the per-epoch validation
accuracy for one objective and FIFO otherwise, the spec's concurrency and per-trial resources, and
a stopper that polls the search's record (cancel, another runner) and wall-clock budget.
Callbacks record trial start, every epoch, completion, early stop and failure. The Tune classes
live in :mod:`search.run.tune_adapters`, imported only once a run starts.

Before anything is claimed or started, the run checks what it will need
(:mod:`search.run.preflight`: the Ray address answers, the runs folder is writable; the database is
writable): a failure there leaves the search as it was. A run whose trials never complete ends
``failed`` with the commonest error (:mod:`search.run.verdict`).

Resuming (also after ``kill -9``) is the same call: the ledger marks trials left running as
interrupted, settles the Optuna study left behind, and the run proposes exactly the trials still
missing. Ray Tune's own experiment restore is not used: the database is the state.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from search import logs
from search.records import repository as repo
from search.records.db import Search, session_scope
from search.records.lifecycle import (
    SearchStateError,
    claim,
    finalize,
    record_run_dir,
    runner_id,
)
from search.records.storage import RunsDir, RunsLocation, search_folder
from search.run.ledger import Ledger
from search.run.preflight import check_run_inputs
from search.run.resources import with_trial_settings
from search.run.study import open_study
from search.run.verdict import no_success_reason
from space.spec import SearchSpec
from space.status import SearchStatus, TrialStatus

if TYPE_CHECKING:
    from search.run.tune_adapters import Reporter

__all__ = ["REUSE_ACTORS", "RunOutcome", "SearchStateError", "resume_search", "run_search"]

log = logging.getLogger(__name__)

EXPERIMENT_STATE_SECONDS = 600
# One Ray actor (a worker process with torch and the dataset loaded) trains trial after trial
# instead of a new process per trial: starting one costs seconds of imports on a small machine,
# which was most of the per-trial overhead. Safe because a trial depends on its config alone (the
# trainable seeds its model and data order and sets its threads per trial); an actor whose
# trial raised is not reused (Ray Tune discards it).
REUSE_ACTORS = True
Trainable = Callable[[dict[str, Any]], Any]


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


@dataclass(frozen=True)
class _Run:
    """What one driver run was given and found before it started."""

    engine: Engine
    search_id: int
    runner: str
    address: str | None
    runs_dir: RunsLocation
    reporter: Reporter | None
    trainable: Trainable | None
    num_cpus: int | None
    started: float = field(default_factory=time.monotonic)


def run_search(
    engine: Engine,
    search_id: int,
    *,
    ray_address: str | None = None,
    reporter: Reporter | None = None,
    runs_dir: RunsDir | RunsLocation | None = None,
    force: bool = False,
    runner: str | None = None,
    trainable: Trainable | None = None,
    num_cpus: int | None = None,
    trial_config: Mapping[str, Any] | None = None,
) -> RunOutcome:
    """Drive (or resume) one search until it has its trials, is cancelled, gives up or runs
    out of time.

    ``runner``: who drives it (default ``host:pid``); a search already claimed by this runner
    (``search.records.lifecycle.claim_next``) is run, one another live runner drives is refused
    unless ``force``. ``trainable``, ``num_cpus`` and ``trial_config`` are for tests and benchmarks.
    Raises a named error before anything is claimed when the Ray address, the runs folder or
    the database is unusable.
    """
    with logs.about(search_id=search_id):  # every log line of the run names the search
        address, runs = _preflight(engine, search_id, ray_address, runs_dir)
        run = _Run(
            engine, search_id, runner or runner_id(), address, runs, reporter, trainable, num_cpus
        )
        spec = claim(engine, search_id, runner=run.runner, force=force)
        try:
            ledger = _open_ledger(run, spec, trial_config)
            if not ledger.exhausted():
                _tune(run, ledger, spec)
        except BaseException as exc:
            by_user = isinstance(exc, KeyboardInterrupt)
            status = SearchStatus.INTERRUPTED if by_user else SearchStatus.FAILED
            note = None if by_user else _short(exc)
            if finalize(engine, search_id, status, note, runner=run.runner):  # still ours
                with session_scope(engine) as s:
                    repo.mark_interrupted(s, search_id)
            raise
        return _conclude(run, ledger)


def resume_search(
    engine: Engine,
    search_ref: str | int,
    *,
    force: bool = False,
    ray_address: str | None = None,
    reporter: Reporter | None = None,
    runs_dir: RunsDir | RunsLocation | None = None,
    **kwargs: Any,
) -> RunOutcome:
    """Continue a search (by id or name) whose driver stopped (interrupted, failed, killed)."""
    with session_scope(engine) as s:
        search_id = repo.resolve_search(s, search_ref).id
    return run_search(
        engine,
        search_id,
        force=force,
        ray_address=ray_address,
        reporter=reporter,
        runs_dir=runs_dir,
        **kwargs,
    )


def _preflight(
    engine: Engine, search_id: int, ray_address: str | None, runs_dir: RunsDir | RunsLocation | None
) -> tuple[str | None, RunsLocation]:
    """The Ray address (given, else the search's, else the settings') and runs folder to use,
    checked before the search is claimed (a failure leaves it untouched)."""
    with session_scope(engine) as s:
        stored = repo.resolve_search(s, search_id).ray_address
    return check_run_inputs(engine, ray_address or stored, runs_dir)


def _open_ledger(run: _Run, spec: SearchSpec, trial_config: Mapping[str, Any] | None) -> Ledger:
    with session_scope(run.engine) as s:
        search = s.get(Search, run.search_id)
        assert search is not None
        study_name, requested = search.study_name, search.requested_trials
        roots = search.data_roots
    url = run.engine.url.render_as_string(hide_password=False)
    study = open_study(study_name, spec, url, requested)
    # Workers checkpoint every trial (its best weights for export --weights; its state to resume).
    base = {"checkpoint": True} if trial_config is None else trial_config
    # search.resources: the GPU settings (allocator cap, overhead) and training.compile
    config = with_trial_settings(spec, base)
    if roots is not None:  # submitted to a server: workers confine every file they open again
        config["data_roots"] = list(roots)
    ledger = Ledger(run.engine, run.search_id, spec, study, trial_config=config)
    ledger.on_trial_done = run.reporter
    interrupted = ledger.reconcile()
    if interrupted:
        log.warning(
            "search %s: %d trial(s) were interrupted (kept as records); their budget goes "
            "to new proposals",
            run.search_id,
            interrupted,
        )
    return ledger


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:4000]


def _tune(run: _Run, ledger: Ledger, spec: SearchSpec) -> None:
    from ray import tune

    from search.run import tune_adapters as ta

    started_ray = ta.ensure_ray(run.address, run.num_cpus)
    try:
        objectives = ledger.objectives
        metric: str | list[str] = [o.metric for o in objectives]
        mode: str | list[str] = [o.direction for o in objectives]
        if len(objectives) == 1:
            metric, mode = objectives[0].metric, objectives[0].direction
        fn = run.trainable or _default_trainable()
        # Every run of the search (a resume starts another) under one folder, which a delete
        # removes with the records.
        folder = search_folder(run.runs_dir, ledger.search_id)
        record_run_dir(run.engine, ledger.search_id, folder.uri)
        store, storage_path = folder.filesystem()
        tuner = tune.Tuner(
            tune.with_resources(fn, ta.cluster_trial_resources(spec)),
            tune_config=tune.TuneConfig(
                search_alg=ta.ConvnasSearch(ledger, metric, mode),
                scheduler=ta.scheduler(spec, len(objectives)),
                num_samples=-1,  # the ledger decides when the search has its trials
                max_concurrent_trials=spec.search.concurrency,
                reuse_actors=REUSE_ACTORS,
                trial_dirname_creator=ta.trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=f"run-{int(time.time())}",
                storage_path=storage_path,
                storage_filesystem=None if folder.is_local else store,
                stop=ta.CancelStopper(ledger, run.runner, spec.search.time_budget, run.started),
                callbacks=[ta.RecordCallback(ledger, run.reporter, run.started, folder)],
                # A trial reports a checkpoint every epoch: its best epoch's weights (what export
                # --weights reads, under storage_path, which every node reaches) and where it
                # stands (workers.resume). RecordCallback keeps only the latest of each trial
                # (Tune's num_to_keep would save the whole experiment's state every time).
                checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
                verbose=0,
                # A trial whose worker or node dies runs again from its last checkpoint, up to
                # search.retries times; then (or with 0) it is recorded failed with the reason.
                failure_config=tune.FailureConfig(
                    max_failures=spec.search.retries, fail_fast=False
                ),
            ),
        )
        # Tune's per-trial CSV/JSON/TensorBoard loggers duplicate what the database records; off
        # for this search only, so that a library user's own Tune runs in the process keep theirs.
        # Tune's strict check wants the searcher's metrics in every result, but the ledger reads
        # the objectives from the trial record (flops is never reported, nor params by a trial
        # that could not be built): off, or a flops or params objective fails the search.
        quiet_env = _scoped_env(
            TUNE_DISABLE_AUTO_CALLBACK_LOGGERS="1",
            RAY_AIR_NEW_OUTPUT="0",
            TUNE_DISABLE_STRICT_METRIC_CHECKING="1",
            # Tune's experiment state is for Tuner.restore, which a search never uses (a resume
            # is a new run; the database is the state): saved every 10 minutes instead of with
            # every few results, a save that grows with the trials run so far.
            TUNE_GLOBAL_CHECKPOINT_S=str(EXPERIMENT_STATE_SECONDS),
        )
        with quiet_env, quiet_tune():
            tuner.fit()
    finally:
        if started_ray:
            import ray

            ray.shutdown()


def _default_trainable() -> Trainable:
    from workers.trainable import train_arch

    return train_arch


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


def _conclude(run: _Run, ledger: Ledger) -> RunOutcome:
    reason = ledger.stop_reason
    ledger.close_unfinished(reason or "the driver stopped")
    with session_scope(run.engine) as s:
        finished = repo.finished_count(s, run.search_id)
        counts = repo.trial_counts(s, run.search_id)
        search = s.get(Search, run.search_id)
        assert search is not None
        ours = search.runner == run.runner and search.status == SearchStatus.RUNNING
        cancelled = search.cancel_requested
        no_success = no_success_reason(s, run.search_id)
    status, note = _verdict(ledger, finished, cancelled, no_success)
    if not ours:  # another runner took the search over: its records are that runner's now
        status, note = SearchStatus.INTERRUPTED, reason
    else:
        with session_scope(run.engine) as s:
            repo.mark_interrupted(s, run.search_id)
        finalize(run.engine, run.search_id, status, note, runner=run.runner)
    unfinished = (TrialStatus.INTERRUPTED, TrialStatus.CANCELLED)
    not_counted = {str(k): counts[k] for k in unfinished if counts.get(k)}
    elapsed = time.monotonic() - run.started
    return RunOutcome(run.search_id, status, finished, ledger.requested, note, elapsed, not_counted)


def _verdict(
    ledger: Ledger, finished: int, cancelled: bool, no_success: str | None
) -> tuple[SearchStatus, str | None]:
    """How the run ends: cancelled, failed (gave up, or nothing completed), succeeded (all
    trials, or the time budget ran out after some completed), else interrupted."""
    reason = ledger.stop_reason
    time_up = bool(reason and reason.startswith("time budget"))
    if cancelled:
        return SearchStatus.CANCELLED, reason
    if ledger.give_up is not None:
        return SearchStatus.FAILED, ledger.give_up
    if finished >= ledger.requested or time_up:
        if no_success is not None:
            return SearchStatus.FAILED, f"{no_success} ({reason})" if time_up else no_success
        if finished >= ledger.requested:
            return SearchStatus.SUCCEEDED, None
        return SearchStatus.SUCCEEDED, f"{reason} after {finished} of {ledger.requested} trials"
    return SearchStatus.INTERRUPTED, reason or "stopped before all trials finished"

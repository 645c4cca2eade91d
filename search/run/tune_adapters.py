"""The Ray Tune side of a search: the searcher, callback and stopper that connect Tune to the
:class:`~search.run.ledger.Ledger`, the scheduler and per-trial resources, and starting Ray.

This module imports Ray when it is imported: only ``search.run.driver`` imports it, and only inside
a run, so that the service layer, the CLI's other commands and the ledger's tests stay light.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import ray
from ray.tune import Callback, Stopper
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher

from search import logs
from search.records.lifecycle import HEARTBEAT_SECONDS, heartbeat, stop_reason
from search.records.storage import RunsLocation, remove_checkpoint
from search.run.ledger import Ledger
from search.run.progress import Progress, TrialDone
from search.run.ray_private import trial_actor_node
from space.spec import SearchSpec

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
PROGRESS_SECONDS = 5.0
# ASHA's first rung: no trial is stopped before this many epochs (or all of them, if fewer).
# One epoch of a short search is a few dozen noisy steps, and the accuracy after it says more
# about the learning rate's warm-up than about the architecture: cutting there is close to random.
ASHA_GRACE_EPOCHS = 2

# Gets a Progress every PROGRESS_SECONDS and a TrialDone as each trial settles (both have line()).
Reporter = Callable[[Progress | TrialDone], None]


class Unpicklable:
    """Tune pickles its config (searcher, callbacks, stopper) for its own experiment restore,
    which convnas never uses (the database is the state). The ledger holds an engine and a
    study that do not pickle, so these objects pickle to an empty shell."""

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class ConvnasSearch(Unpicklable, Searcher):
    """Tune's searcher for a search: the ledger proposes (it asks the search's Optuna study
    through its public ask/tell API, freezes the arch and settles duplicates and over-budget
    candidates itself) and is told how each trial ended.

    Metric and mode are checked by ``Searcher`` (both a str, or lists of one length) and only
    name the objectives for Tune: the ledger reads their values from the trial record. Tune's
    ``max_concurrent_trials`` wraps this in a ``ConcurrencyLimiter``, which limits the
    proposals (:meth:`set_max_concurrency` stays ``Searcher``'s False).
    """

    def __init__(self, ledger: Ledger, metric: str | list[str], mode: str | list[str]):
        super().__init__(metric=metric, mode=mode)  # type: ignore[arg-type]
        self._ledger = ledger

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any
    ) -> bool:
        # The space is the spec's, sampled by the ledger: a Tune param_space cannot replace it
        # (Tune then refuses one with unresolved values), and metric and mode are set above.
        return False

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

    # The database is the state; Tune's pickled searcher checkpoints are not needed (and the
    # ledger's engine and study would not pickle).
    def save(self, checkpoint_path: str) -> None:
        return None

    def restore(self, checkpoint_path: str) -> None:
        return None

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        return None


class RecordCallback(Unpicklable, Callback):
    """Trial start, errors with their message, checkpoints; progress lines."""

    def __init__(
        self, ledger: Ledger, reporter: Reporter | None, started: float, runs: RunsLocation
    ):
        self._ledger = ledger
        self._reporter = reporter
        self._started = started
        self._runs = runs  # the store Tune's checkpoint paths (scheme-less) are on
        self._last_report = 0.0
        self._latest: dict[str, str] = {}  # trial id -> its latest checkpoint's path
        self._pruner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="convnas-prune")

    def _about(self, trial: Any) -> AbstractContextManager[None]:
        """Log lines made while handling ``trial``'s event carry its number (search.logs)."""
        return logs.about(trial=self._ledger.number_of(trial.trial_id))

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        with self._about(trial):
            self._ledger.started(trial.trial_id, node_label(trial))

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        # The trial's worker (or its node) died and Tune runs it again (search.retries).
        with self._about(trial):
            self._ledger.retrying(trial.trial_id, error_message(trial))

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        with self._about(trial):
            self._ledger.report(trial.trial_id, result)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._latest.pop(trial.trial_id, None)
        number = self._ledger.number_of(trial.trial_id)
        with self._about(trial):
            self._ledger.set_error(trial.trial_id, number, error_message(trial))

    def on_checkpoint(
        self, iteration: int, trials: list[Any], trial: Any, checkpoint: Any, **info: Any
    ) -> None:
        """Keep only a trial's latest checkpoint (what a retry restores and export reads).
        Tune's own ``num_to_keep`` would do it, but forces a save of the whole experiment's
        state with every checkpoint: a cost that grows with the trials run so far (the driver
        never restores from that state; the database is the search's state). The removal runs
        off Tune's event loop."""
        previous = self._latest.get(trial.trial_id)
        self._latest[trial.trial_id] = checkpoint.path
        if previous and previous != checkpoint.path:
            self._pruner.submit(remove_checkpoint, self._runs.at(previous))

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self._pruner.shutdown(wait=True)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._latest.pop(trial.trial_id, None)
        number = self._ledger.number_of(trial.trial_id)
        checkpoint = getattr(trial, "checkpoint", None)
        path = getattr(checkpoint, "path", None)
        if number is not None and path:
            self._ledger.set_checkpoint(number, self._runs.at(str(path)).uri)

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        now = time.monotonic()
        if self._reporter is None or now - self._last_report < PROGRESS_SECONDS:
            return
        self._last_report = now
        self._reporter(self._ledger.progress(now - self._started))


class CancelStopper(Unpicklable, Stopper):
    """Polled every loop step: the ledger's own stop (enough failures), the time budget, and
    every POLL_SECONDS the search's record (cancel requested, another runner took it over);
    the heartbeat every HEARTBEAT_SECONDS."""

    def __init__(self, ledger: Ledger, runner: str, budget: float | None, started: float):
        self._ledger = ledger
        self._runner = runner
        self._budget = budget
        self._started = started
        self._last_poll = 0.0
        self._last_beat = 0.0

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        ledger = self._ledger
        if ledger.stop_reason is not None:
            return True
        now = time.monotonic()
        if self._budget is not None and now - self._started >= self._budget:
            ledger.stop_reason = f"time budget of {self._budget:g}s reached"
            return True
        if now - self._last_poll < POLL_SECONDS:
            return False
        self._last_poll = now
        if now - self._last_beat >= HEARTBEAT_SECONDS:
            self._last_beat = now
            if heartbeat(ledger.engine, ledger.search_id, self._runner):
                return False
        ledger.stop_reason = stop_reason(ledger.engine, ledger.search_id, self._runner)
        return ledger.stop_reason is not None


def node_label(trial: Any) -> str | None:
    """``IP/node id`` (the id's first 8 hex digits) of the Ray node running ``trial``'s actor,
    or None when Ray cannot say (:func:`search.run.ray_private.trial_actor_node`).

    The IP alone does not tell nodes apart where a machine runs several (one machine's test
    cluster, containers sharing a host's network).
    """
    node = trial_actor_node(trial)
    if node is None:
        return None
    ip, node_id = node.ip, node.node_id
    if not node_id.strip("0"):
        return ip or None
    return f"{ip}/{node_id[:8]}" if ip else node_id[:8]


# How Ray words the loss of a trial's worker process (its node died, or the process was
# killed): the exception classes, and the messages Tune writes without the class name
# ("The actor 5a3e... is unavailable: ... Connection reset by peer", "The actor died ...").
_LOST_WORKER = re.compile(
    r"ActorDiedError|NodeDiedError|ActorUnavailableError|RayActorError"
    r"|The actor \w* ?is unavailable|The actor died",
)


def error_message(trial: Any) -> str:
    """The exception line of a failed trial's traceback (``ValueError: boom``). A trial whose
    worker was lost reads ``node died or worker killed: <Ray's line>``: the trial did not fail
    by itself, and Ray cannot tell at that moment which of the two happened."""
    line = _error_line(trial)
    if _LOST_WORKER.search(_error_text(trial)):
        return f"node died or worker killed: {line}"[:2000]
    return line


def _error_text(trial: Any) -> str:
    try:
        path = trial.error_file  # Tune writes the traceback there before on_trial_error
        if path and Path(path).is_file():
            return Path(path).read_text(errors="replace")
        return str(trial.get_error() or "")
    except Exception:  # the error file may be gone; the status alone is still recorded
        return ""


def _error_line(trial: Any) -> str:
    """The exception line of a failed trial's traceback (``ValueError: boom``)."""
    text = _error_text(trial)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(("File ", "^", "~", "Failure #", "Traceback")):
            return line[:2000]
    return "the trial raised an error (no message recorded)"


def trial_dirname(trial: Any) -> str:
    """Short folder names: Tune's default spells the whole arch config out."""
    return f"trial_{trial.trial_id}"


def ensure_ray(address: str | None, num_cpus: int | None) -> bool:
    """Connect to ``address`` or start a local Ray; returns whether this call started it.

    Check an address with ``search.run.preflight.check_ray_address`` first: Ray itself retries an
    unreachable one for many minutes.
    """
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


def cluster_trial_resources(spec: SearchSpec) -> Any:
    """The spec's per-trial resources, fitted to the cluster (no GPU there: CPU only): a dict,
    or with ``gpu: auto`` a callable of the trial config (cost-aware packing,
    :mod:`search.run.resources`)."""
    from search.run import resources

    available = ray.cluster_resources()  # type: ignore[no-untyped-call]
    cpus = float(available.get("CPU", 1.0))
    return resources.trial_resources(spec, cpus, float(available.get("GPU", 0.0)))


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


def scheduler(spec: SearchSpec, objectives: int) -> TrialScheduler:
    """ASHA on the per-epoch validation accuracy for one objective, FIFO otherwise."""
    if spec.scheduler == "asha" and objectives == 1:
        max_t = max(max_epochs(spec), 1)
        return ASHAScheduler(
            # Epochs, not Tune's count of results: a retried trial resumes at its checkpoint's
            # epoch, so its rungs are the epochs it trained whatever Tune counted before.
            time_attr="epoch",
            metric="val_acc",
            mode="max",
            max_t=max_t,
            grace_period=asha_grace_period(max_t),
            reduction_factor=2,
        )
    if spec.scheduler == "asha":
        log.warning("ASHA needs one objective; this search has several: using FIFO")
    return FIFOScheduler()  # type: ignore[no-untyped-call]

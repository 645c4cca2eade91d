"""The bookkeeping of one search run, between Optuna, the records and Ray Tune.

The :class:`Ledger` proposes candidates (Optuna asks, the DSL freezes, duplicates and
over-budget candidates are settled on the spot without a worker), records every reported epoch,
closes trials with their final status and tells Optuna the outcome. It knows nothing about Ray:
the driver calls it from its Tune searcher and callbacks, and tests drive it directly.

Counting: a search wants ``requested`` *finished* trials (completed, pruned, failed, diverged,
out_of_memory, duplicate, rejected). A proposal is made only while finished + in flight is below
that, so the count is reached exactly; trials that end ``cancelled`` or ``interrupted`` free their
slot, and a resumed search spends it again.

Giving up: when ``search.stop_after_failures`` trials in a row fail with the same error, the
ledger stops proposing (:attr:`Ledger.give_up` says why) and the driver ends the search failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import TrialState
from sqlalchemy import Engine, select

from search import logs
from search.records import repository as repo
from search.records.db import (
    Search,
    Trial,
    clean_json,
    finite,
    session_scope,
    utcnow,
)
from search.records.optuna_private import storage_trial_id
from search.records.pareto import add_to_pareto, update_pareto
from search.records.trial_rows import close_attempt, open_attempt, record_run_facts, trial_row
from search.run.optuna_bridge import OptunaSampler, mark_infeasible
from search.run.progress import Progress, TrialDone, measure
from search.run.resources import enqueue_oom_retry, retry_config, retry_request
from search.run.study import measured_on, outcome, tell, values_for
from search.run.verdict import FailureStreak, epoch_of, final_status, stop_after_failures
from space.arch import Arch
from space.budget import limits
from space.cost import ArchCost, cost
from space.errors import ConvnasError
from space.sampling import freeze
from space.spec import SearchSpec
from space.status import TrialStatus

log = logging.getLogger(__name__)

# Statuses of a result that reports an epoch (any other is a trial's closing report).
_EPOCH_STATUSES = (None, TrialStatus.RUNNING, TrialStatus.COMPLETED)


@dataclass
class Proposal:
    number: int
    config: dict[str, Any]


@dataclass
class _Live:
    number: int
    ot_trial: optuna.Trial
    epochs_planned: int | None = None
    last_result: dict[str, Any] = field(default_factory=dict)
    # The last epoch's accuracy (told to Optuna only if the trial ends pruned, see finish()).
    last_acc: float | None = None
    last_epoch: int = 0
    config: dict[str, Any] = field(default_factory=dict)  # what the trainable was given
    # Times Ray Tune started it again after its worker or node died (search.retries).
    retries: int = 0


class Ledger:
    """Bookkeeping of one driver run of one search (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        search_id: int,
        spec: SearchSpec,
        study: optuna.Study,
        *,
        trial_config: Mapping[str, Any] | None = None,
    ):
        self.engine = engine
        self.search_id = search_id
        self.spec = spec
        self.study = study
        self.objectives = list(spec.objectives)
        self.trial_config = dict(trial_config or {})
        self.live: dict[str, _Live] = {}
        # Every Tune trial id of this run -> trial number (kept after the trial ends, for the
        # callbacks that arrive after the searcher settled it).
        self.numbers: dict[str, int] = {}
        # Duplicates of a trial still training: settled when it ends (original number -> list).
        self.waiting: dict[int, list[tuple[int, optuna.Trial]]] = {}
        self.stop_reason: str | None = None
        # Set (with stop_reason) when too many trials in a row failed alike: the search failed.
        self.give_up: str | None = None
        self.streak = FailureStreak(stop_after_failures(spec))
        # Trials that raised: their message arrives after finish() (set_error), and only then
        # do they count towards the streak.
        self.raised: set[int] = set()
        # Told about every trial as it is settled (the driver prints a line per trial).
        self.on_trial_done: Callable[[TrialDone], None] | None = None
        with session_scope(engine) as s:
            search = s.get(Search, search_id)
            assert search is not None
            self.requested = search.requested_trials
            self.finished_at_start = repo.finished_count(s, search_id)

    # ------------------------------------------------------------------------------------------
    # Proposing
    # ------------------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        # Duplicates waiting on their original are already recorded (and counted) as finished.
        return len(self.live)

    def slots_left(self) -> int:
        with session_scope(self.engine) as s:
            finished = repo.finished_count(s, self.search_id)
        return self.requested - finished - self.in_flight

    def exhausted(self) -> bool:
        """No proposal will ever be made again in this run."""
        return self.stop_reason is not None or self.slots_left() <= 0

    def propose(self, tune_id: str) -> Proposal | None:
        """The next candidate to train, or None when the search needs no more.

        Duplicates and over-budget candidates are recorded and told to Optuna here, and the
        loop asks again, so Ray Tune only ever sees candidates that need a worker.
        """
        while self.stop_reason is None and self.slots_left() > 0:
            ot_trial = self.study.ask()
            sampler = OptunaSampler(ot_trial)
            try:
                arch = freeze(self.spec, sampler)
            except ConvnasError as exc:  # a sampler/DSL bug: recorded, never a crash
                self._record_unsampleable(ot_trial, sampler.params, str(exc))
                continue
            arch_cost = cost(arch)
            if any(limit.exceeded for limit in limits(self.spec, arch_cost)):
                self._reject(ot_trial, sampler.params, arch, arch_cost)
                continue
            # an out-of-memory retry is the same arch again on purpose, not a duplicate
            retry = retry_request(ot_trial.user_attrs)
            if retry is None and self._settle_duplicate(ot_trial, sampler.params, arch, arch_cost):
                continue
            self._record_running(ot_trial, sampler.params, arch, arch_cost, tune_id)
            planned = (self.trial_config.get("training") or {}).get("epochs") or (
                arch.training.epochs if arch.training is not None else None
            )
            config = self._config(arch, ot_trial.number)
            if retry is not None:  # a larger GPU share (search.run.resources.TrialResources)
                config = retry_config(config, retry[1])
            self.live[tune_id] = _Live(ot_trial.number, ot_trial, planned, config=config)
            self.numbers[tune_id] = ot_trial.number
            return Proposal(ot_trial.number, config)
        return None

    def _config(self, arch: Arch, number: int) -> dict[str, Any]:
        # Exactly the keys workers.trainable accepts; the trial number travels in the ledger.
        config = {
            **self.trial_config,
            "arch": arch.to_dict(),
            "dataset": self.spec.dataset.to_ref(),
        }
        neural = self.spec.neural_config()  # the trainable scores the model against neurons
        if neural is not None:
            config["neural"] = neural
        return config

    def _new_row(
        self,
        ot_trial: optuna.Trial,
        params: dict[str, Any],
        arch: Arch,
        arch_cost: ArchCost | None,
        status: str,
    ) -> Trial:
        return trial_row(
            self.search_id,
            ot_trial.number,
            params,
            arch,
            arch_cost,
            status,
            optuna_trial_id=storage_trial_id(ot_trial),
        )

    def _record_running(
        self,
        ot_trial: optuna.Trial,
        params: dict[str, Any],
        arch: Arch,
        arch_cost: ArchCost,
        tune_id: str,
    ) -> None:
        with session_scope(self.engine) as s:
            row = self._new_row(ot_trial, params, arch, arch_cost, TrialStatus.RUNNING)
            row.tune_trial_id = tune_id
            row.heartbeat_at = utcnow()
            s.add(row)

    def _reject(
        self,
        ot_trial: optuna.Trial,
        params: dict[str, Any],
        arch: Arch,
        arch_cost: ArchCost,
    ) -> None:
        checked = limits(self.spec, arch_cost)
        with session_scope(self.engine) as s:
            row = self._new_row(ot_trial, params, arch, arch_cost, TrialStatus.REJECTED)
            # The row holds the cost model's metrics; those only training gives are untrained.
            values = values_for(self.objectives, measured_on(row, self.objectives), True)
            row.error = "over budget: " + "; ".join(c.message() for c in checked if c.exceeded)
            row.values = clean_json(values)
            row.finished_at = utcnow()
            s.add(row)
        self._done(row, note=row.error)
        mark_infeasible(ot_trial, [c.overshoot for c in checked])
        tell(self.study, ot_trial, TrialState.COMPLETE, values)

    def _record_unsampleable(
        self, ot_trial: optuna.Trial, params: dict[str, Any], message: str
    ) -> None:
        log.error("trial %s: the sampled candidate is invalid: %s", ot_trial.number, message)
        row = Trial(
            search_id=self.search_id,
            number=ot_trial.number,
            optuna_trial_id=storage_trial_id(ot_trial),
            status=TrialStatus.FAILED,
            arch={},
            arch_hash="",
            config_hash="",
            params=clean_json(params),
            epochs=0,
            pareto=False,
            error=f"the sampled candidate is invalid: {message}",
            finished_at=utcnow(),
        )
        with session_scope(self.engine) as s:
            s.add(row)
        self._done(row, note="invalid sample")
        tell(self.study, ot_trial, TrialState.FAIL, None)
        self._count_outcome(row.number, TrialStatus.FAILED, row.error, raised=False)

    def _settle_duplicate(
        self, ot_trial: optuna.Trial, params: dict[str, Any], arch: Arch, arch_cost: ArchCost
    ) -> bool:
        with session_scope(self.engine) as s:
            original = repo.find_trained(s, self.search_id, arch.config_hash)
            if original is None:
                return False
            row = self._new_row(ot_trial, params, arch, arch_cost, TrialStatus.DUPLICATE)
            row.duplicate_of = original.number
            s.add(row)
            s.flush()
            if original.status == TrialStatus.RUNNING:
                self.waiting.setdefault(original.number, []).append((ot_trial.number, ot_trial))
                return True
            self._copy_result(row, original)
            state, values = outcome(original, self.objectives)
        self._done(row, note=f"same config as trial {original.number}")
        tell(self.study, ot_trial, state, values)
        return True

    # ------------------------------------------------------------------------------------------
    # Results
    # ------------------------------------------------------------------------------------------

    def number_of(self, tune_id: str) -> int | None:
        return self.numbers.get(tune_id)

    def started(self, tune_id: str, node: str | None) -> None:
        number = self.number_of(tune_id)
        if number is None or tune_id not in self.live:
            return
        with session_scope(self.engine) as s:
            row = repo.get_trial(s, self.search_id, number)
            row.started_at = row.started_at or utcnow()
            row.node = node or row.node  # where it runs now; each attempt keeps its own
            row.heartbeat_at = utcnow()
            open_attempt(row, node)

    def retrying(self, tune_id: str, message: str) -> None:
        """The trial's worker or node died and Ray Tune runs it again (``search.retries``):
        the attempt is closed with the reason. The retry continues after the last epoch it
        checkpointed (every reported one), so the epochs recorded so far stand."""
        number = self.number_of(tune_id)
        live = self.live.get(tune_id)
        if number is None or live is None:
            return
        live.retries += 1
        live.last_result = {}
        with session_scope(self.engine) as s:
            row = repo.get_trial(s, self.search_id, number)
            row.error = f"retried ({live.retries}x) after: {message}"[:4000]
            close_attempt(row, "retried", message)
            row.heartbeat_at = utcnow()
        log.warning("trial %s: retrying after %s", number, message)

    def report(self, tune_id: str, result: Mapping[str, Any]) -> None:
        """One reported result: an epoch's metrics are recorded (one transaction)."""
        live = self.live.get(tune_id)
        if live is None or dict(result) == live.last_result:
            return  # not ours, or the same result again (finish() passes Tune's last result)
        live.last_result = dict(result)
        epoch = epoch_of(result)
        if epoch is None or result.get("status") not in (
            None,
            TrialStatus.RUNNING,
            TrialStatus.COMPLETED,
        ):
            return  # a closing report (diverged, failed...): its status is read by finish()
        with session_scope(self.engine) as s:
            row = repo.get_trial(s, self.search_id, live.number)
            repo.record_epoch(s, row, epoch, dict(result))
            record_run_facts(row, result)
            if result.get("node_ip") and not row.node:
                row.node = str(result["node_ip"])
            prep = result.get("preprocessing")
            if row.preprocessing is None and isinstance(prep, Mapping) and prep:
                row.preprocessing = clean_json(dict(prep))
        if epoch >= live.last_epoch:
            live.last_epoch, live.last_acc = epoch, finite(result.get("val_acc"))

    def finish(self, tune_id: str, result: Mapping[str, Any] | None, error: bool) -> None:
        """A trial left Ray Tune: settle its final status and tell Optuna."""
        if result and epoch_of(result) is not None:
            self.report(tune_id, result)  # the stopping result may not have been reported
        live = self.live.pop(tune_id, None)
        if live is None:
            return
        last = dict(result or live.last_result)
        status, message = final_status(last, error, live.epochs_planned, self.stop_reason)
        with session_scope(self.engine) as s:
            row = repo.get_trial(s, self.search_id, live.number)
            if row.status != TrialStatus.RUNNING:  # already settled (replayed event)
                return
            row.status = status
            row.finished_at = utcnow()
            record_run_facts(row, last)  # the final result wins (e.g. the neural fit)
            if message and not row.error:
                row.error = message
            close_attempt(row, status, None if status == TrialStatus.COMPLETED else message)
            if last.get("checkpoint") and isinstance(last["checkpoint"], str):
                row.checkpoint = last["checkpoint"]
            state, values = outcome(row, self.objectives)
            row.values = clean_json(values)
            if status == TrialStatus.COMPLETED:
                add_to_pareto(s, row, self.objectives)
        self._done(row, note=None if status == TrialStatus.COMPLETED else row.error)
        if state == TrialState.PRUNED:
            self._tell_intermediate(live)
        tell(self.study, live.ot_trial, state, values)
        self._count_outcome(live.number, status, row.error, raised=error)
        if status == TrialStatus.OUT_OF_MEMORY:
            self._retry_out_of_memory(live, last)
        self._settle_waiting(live.number)

    def _retry_out_of_memory(self, live: _Live, last: Mapping[str, Any]) -> None:
        """``search.resources.oom_retry``: the candidate again as the next proposal, with twice
        the GPU share (:func:`search.run.resources.enqueue_oom_retry` decides)."""
        params = live.ot_trial.params
        share = enqueue_oom_retry(self.study, self.spec, live.number, params, live.config, last)
        if share is None:
            return
        with session_scope(self.engine) as s:
            row = repo.get_trial(s, self.search_id, live.number)
            row.error = f"{row.error or 'out of memory'}; retried with GPU share {share:g}"

    def _tell_intermediate(self, live: _Live) -> None:
        """A pruned trial's last epoch accuracy, which Optuna takes as its value (TPE ranks
        pruned trials by it). Told once here rather than every epoch: only a pruned trial's
        last intermediate value is ever read, and each report is a write to the study."""
        if len(self.objectives) == 1 and live.last_acc is not None and live.last_epoch > 0:
            try:
                live.ot_trial.report(live.last_acc, live.last_epoch)
            except Exception as exc:  # the record stays; Optuna then counts it as failed
                log.warning("trial %s: could not report to Optuna: %s", live.number, exc)

    def set_error(self, tune_id: str | None, number: int | None, message: str) -> None:
        """The traceback's last line for a trial that raised (arrives after ``finish``)."""
        if number is None:
            return
        with session_scope(self.engine) as s:
            row = repo.get_trial(s, self.search_id, number)
            row.error = message
        if number in self.raised:
            self.raised.discard(number)
            self._count_outcome(number, TrialStatus.FAILED, message, raised=False)

    def _count_outcome(
        self, number: int, status: TrialStatus, error: str | None, *, raised: bool
    ) -> None:
        """A trained trial's outcome extends or ends the failure streak; enough failures alike
        in a row stop the search (:mod:`search.run.verdict`)."""
        if raised:
            self.raised.add(number)
            return
        reason = self.streak.add(status, error)
        if reason is not None and self.give_up is None:
            log.warning("search %s: %s", self.search_id, reason)
            self.give_up = reason
            self.stop_reason = self.stop_reason or reason

    def set_checkpoint(self, number: int, path: str) -> None:
        with session_scope(self.engine) as s:
            row = repo.get_trial(s, self.search_id, number)
            row.checkpoint = path

    def _settle_waiting(self, number: int) -> None:
        waiting = self.waiting.pop(number, [])
        if not waiting:
            return
        settled = []
        with session_scope(self.engine) as s:
            original = repo.get_trial(s, self.search_id, number)
            state, values = outcome(original, self.objectives)
            gone = original.status in (TrialStatus.CANCELLED, TrialStatus.INTERRUPTED)
            for dup_number, _ in waiting:
                row = repo.get_trial(s, self.search_id, dup_number)
                if gone:  # nothing to copy: its slot is spent again later
                    row.status = original.status
                    row.error = f"its original (trial {number}) was {original.status}"
                    row.finished_at = utcnow()
                else:
                    self._copy_result(row, original)
                settled.append(row)
        for row in settled:
            self._done(row, note=f"same config as trial {number}")
        for _, ot_trial in waiting:
            tell(self.study, ot_trial, state, values)

    def _done(self, row: Trial, note: str | None) -> None:
        """Tell :attr:`on_trial_done` about a settled row (read after its commit), and the log
        (an INFO line: shown with ``CONVNAS_LOG_FORMAT=json``)."""
        with logs.about(search_id=self.search_id, trial=row.number):
            log.info("trial %s %s: val_acc %s%s", row.number, row.status, row.best_val_acc,
                     f" ({note})" if note else "")  # fmt: skip
        seconds = row.train_seconds
        if seconds is None and row.started_at and row.finished_at:
            seconds = (row.finished_at - row.started_at).total_seconds()
        self._emit(
            TrialDone(
                self.search_id,
                row.number,
                row.status,
                row.best_val_acc,
                row.n_params,
                seconds,
                note[:200] if note else None,
                row.neural_fit,
            )
        )

    def _emit(self, event: TrialDone) -> None:
        if self.on_trial_done is None:
            return
        try:
            self.on_trial_done(event)
        except Exception as exc:  # a broken terminal must not stop the search
            log.warning("could not report trial %s: %s", event.number, exc)

    def _copy_result(self, row: Trial, original: Trial) -> None:
        row.best_val_acc = original.best_val_acc
        row.last_val_acc = original.last_val_acc
        row.epochs = original.epochs
        row.values = original.values
        row.train_seconds = 0.0
        row.finished_at = utcnow()
        row.error = f"same config as trial {original.number} ({original.status})"

    # ------------------------------------------------------------------------------------------
    # Stopping, resuming, progress
    # ------------------------------------------------------------------------------------------

    def close_unfinished(self, reason: str) -> None:
        """After Ray Tune returned: anything still live or waiting ends cancelled."""
        self.stop_reason = self.stop_reason or reason
        for tune_id in list(self.live):
            self.finish(tune_id, None, error=False)
        for number in list(self.waiting):
            self._settle_waiting(number)

    def reconcile(self) -> int:
        """Resume: trials left running become interrupted; Optuna forgets them too.

        Also tells Optuna about any trial the records settled but the dead driver never told
        (it died between the two writes), so the study and the records agree.
        """
        with session_scope(self.engine) as s:
            interrupted = repo.mark_interrupted(s, self.search_id)
        with session_scope(self.engine) as s:
            # Duplicates waiting on an interrupted original lose their slot too.
            waiting = s.scalars(
                select(Trial).where(
                    Trial.search_id == self.search_id,
                    Trial.status == TrialStatus.DUPLICATE,
                    Trial.values.is_(None),
                    Trial.finished_at.is_(None),
                )
            ).all()
            for row in waiting:
                row.status = TrialStatus.INTERRUPTED
                row.finished_at = utcnow()
                row.error = f"its original (trial {row.duplicate_of}) was interrupted"
        rows = {}
        with session_scope(self.engine) as s:
            for row in s.scalars(select(Trial).where(Trial.search_id == self.search_id)):
                rows[row.number] = (row.status, outcome(row, self.objectives))
        for frozen in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            status, (state, values) = rows.get(
                frozen.number, (TrialStatus.INTERRUPTED, (None, None))
            )
            if status == TrialStatus.RUNNING:
                continue
            if state is None:
                state, values = TrialState.FAIL, None
            tell(self.study, frozen.number, state, values)
        with session_scope(self.engine) as s:
            update_pareto(s, self.search_id, self.objectives)
        return interrupted

    def progress(self, elapsed: float, now: datetime | None = None) -> Progress:
        """Counts, best so far and what the ETA needs (trial durations, running trials' ages)."""
        return measure(
            self.engine,
            self.search_id,
            requested=self.requested,
            finished_before=self.finished_at_start,
            concurrency=self.spec.search.concurrency,
            elapsed=elapsed,
            now=now,
        )

"""The bookkeeping of one search run, between Optuna, the records and Ray Tune.

The :class:`Ledger` proposes candidates (Optuna asks, the DSL freezes, duplicates and
over-budget candidates are settled on the spot without a worker), records every reported epoch,
closes trials with their final status and tells Optuna the outcome. It knows nothing about Ray:
the driver calls it from its Tune searcher and callbacks, and tests drive it directly.

Counting: a search wants ``requested`` *finished* trials (completed, pruned, failed, diverged,
out_of_memory, duplicate, rejected). A proposal is made only while finished + in flight is below
that, so the count is reached exactly; trials that end ``cancelled`` or ``interrupted`` free their
slot, and a resumed search spends it again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import TrialState
from sqlalchemy import Engine, select

from search import repository as repo
from search.db import Search, Trial, clean_json, finite, session_scope, utcnow
from search.optuna_bridge import (
    CONSTRAINT_KINDS,
    OptunaSampler,
    make_sampler,
    mark_infeasible,
    rdb_storage,
)
from search.progress import Progress, TrialDone
from space.arch import Arch
from space.cost import ArchCost, cost
from space.errors import ConvnasError
from space.sampling import freeze
from space.spec import SearchSpec

log = logging.getLogger(__name__)

# Trials a worker trained to an end: their durations estimate the time left.
TRAINED_STATUSES = ("completed", "pruned", "failed", "diverged", "out_of_memory")
# Final statuses a trainable may report (its last result's ``status``).
REPORTED_STATUSES = ("completed", "diverged", "out_of_memory", "failed")
# What each final status tells Optuna. Diverged is a real (bad) outcome of the sampled
# hyperparameters, so the sampler learns from it; a crash or OOM says nothing about the
# candidate's quality and is FAIL (ignored by the samplers).
_TOLD = {
    "completed": TrialState.COMPLETE,
    "diverged": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "failed": TrialState.FAIL,
    "out_of_memory": TrialState.FAIL,
    "cancelled": TrialState.FAIL,
    "interrupted": TrialState.FAIL,
}


def objectives_of(spec: SearchSpec) -> list[repo.Objective]:
    return [repo.Objective(o.metric, o.direction) for o in spec.objectives]


def open_study(study_name: str, spec: SearchSpec, url: str, trials: int) -> optuna.Study:
    """The search's Optuna study in the convnas database (created on first use).

    Call it outside any open session: on SQLite a session holds the write lock. A resumed
    study's sampler is seeded with ``seed + trials so far``: the same seed again would replay
    the first run's proposals, which are now duplicates.
    """
    # Optuna's INFO lines ("A new study created in RDB ...") say nothing the progress lines
    # don't; warnings and errors still show.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objectives = objectives_of(spec)
    storage = rdb_storage(url)
    seed = spec.search.seed
    if seed is not None:
        seed += _trials_so_far(storage, study_name)
    sampler = make_sampler(
        spec.search.sampler, seed=seed, n_objectives=len(objectives), trials=trials
    )
    return optuna.create_study(
        storage=storage,
        sampler=sampler,
        pruner=optuna.pruners.NopPruner(),  # ASHA in Ray Tune decides early stops
        study_name=study_name,
        directions=["maximize" if o.goal == "max" else "minimize" for o in objectives],
        load_if_exists=True,
    )


def _trials_so_far(storage: optuna.storages.BaseStorage, study_name: str) -> int:
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return 0
    return len(storage.get_all_trials(study_id, deepcopy=False))


def violations(spec: SearchSpec, arch_cost: ArchCost) -> tuple[list[float], list[str]]:
    """Relative overshoot per constraint kind and a message for each limit exceeded."""
    limits = spec.constraints
    pairs = [
        ("params", arch_cost.params, limits.max_params, "max_params"),
        ("flops", arch_cost.flops, limits.max_flops, "max_flops"),
        (
            "activation_memory",
            arch_cost.activation_bytes,
            limits.max_activation_memory,
            "max_activation_memory",
        ),
    ]
    assert [p[0] for p in pairs] == list(CONSTRAINT_KINDS)
    overshoot: list[float] = []
    messages: list[str] = []
    for kind, value, limit, name in pairs:
        if limit is None:
            overshoot.append(0.0)
            continue
        overshoot.append((value - limit) / limit)
        if value > limit:
            messages.append(f"{kind} {value:,} > {name} {limit:,}")
    return overshoot, messages


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
        self.objectives = objectives_of(spec)
        self.trial_config = dict(trial_config or {})
        self.live: dict[str, _Live] = {}
        # Every Tune trial id of this run -> trial number (kept after the trial ends, for the
        # callbacks that arrive after the searcher settled it).
        self.numbers: dict[str, int] = {}
        # Duplicates of a trial still training: settled when it ends (original number -> list).
        self.waiting: dict[int, list[tuple[int, optuna.Trial]]] = {}
        self.stop_reason: str | None = None
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
            overshoot, over = violations(self.spec, arch_cost)
            if over:
                self._reject(ot_trial, sampler.params, arch, arch_cost, overshoot, over)
                continue
            if self._settle_duplicate(ot_trial, sampler.params, arch, arch_cost):
                continue
            self._record_running(ot_trial, sampler.params, arch, arch_cost, tune_id)
            planned = (self.trial_config.get("training") or {}).get("epochs") or (
                arch.training.epochs if arch.training is not None else None
            )
            self.live[tune_id] = _Live(ot_trial.number, ot_trial, planned)
            self.numbers[tune_id] = ot_trial.number
            return Proposal(ot_trial.number, self._config(arch, ot_trial.number))
        return None

    def _config(self, arch: Arch, number: int) -> dict[str, Any]:
        # Exactly the keys workers.trainable accepts; the trial number travels in the ledger.
        return {**self.trial_config, "arch": arch.to_dict(), "dataset": self.spec.dataset.to_ref()}

    def _new_row(
        self,
        ot_trial: optuna.Trial,
        params: dict[str, Any],
        arch: Arch,
        arch_cost: ArchCost | None,
        status: str,
    ) -> Trial:
        return Trial(
            search_id=self.search_id,
            number=ot_trial.number,
            optuna_trial_id=ot_trial._trial_id,
            status=status,
            arch=arch.to_dict(),
            arch_hash=arch.arch_hash,
            config_hash=arch.config_hash,
            params=clean_json(params),
            n_params=arch_cost.params if arch_cost else None,
            flops=arch_cost.flops if arch_cost else None,
            activation_memory=arch_cost.activation_bytes if arch_cost else None,
            epochs=0,
            pareto=False,
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
            row = self._new_row(ot_trial, params, arch, arch_cost, "running")
            row.tune_trial_id = tune_id
            row.heartbeat_at = utcnow()
            s.add(row)

    def _reject(
        self,
        ot_trial: optuna.Trial,
        params: dict[str, Any],
        arch: Arch,
        arch_cost: ArchCost,
        overshoot: list[float],
        over: list[str],
    ) -> None:
        values = self._values_for(None, arch_cost.params, arch_cost.flops, worst_accuracy=True)
        with session_scope(self.engine) as s:
            row = self._new_row(ot_trial, params, arch, arch_cost, "rejected")
            row.error = "over budget: " + "; ".join(over)
            row.values = clean_json(values)
            row.finished_at = utcnow()
            s.add(row)
        self._done(row, note=row.error)
        mark_infeasible(ot_trial, overshoot)
        self._tell(ot_trial, TrialState.COMPLETE, values)

    def _record_unsampleable(
        self, ot_trial: optuna.Trial, params: dict[str, Any], message: str
    ) -> None:
        log.error("trial %s: the sampled candidate is invalid: %s", ot_trial.number, message)
        with session_scope(self.engine) as s:
            s.add(
                Trial(
                    search_id=self.search_id,
                    number=ot_trial.number,
                    optuna_trial_id=ot_trial._trial_id,
                    status="failed",
                    arch={},
                    arch_hash="",
                    config_hash="",
                    params=clean_json(params),
                    epochs=0,
                    pareto=False,
                    error=f"the sampled candidate is invalid: {message}",
                    finished_at=utcnow(),
                )
            )
        self._emit(
            TrialDone(self.search_id, ot_trial.number, "failed", None, None, None, "invalid sample")
        )
        self._tell(ot_trial, TrialState.FAIL, None)

    def _settle_duplicate(
        self, ot_trial: optuna.Trial, params: dict[str, Any], arch: Arch, arch_cost: ArchCost
    ) -> bool:
        with session_scope(self.engine) as s:
            original = repo.find_trained(s, self.search_id, arch.config_hash)
            if original is None:
                return False
            row = self._new_row(ot_trial, params, arch, arch_cost, "duplicate")
            row.duplicate_of = original.number
            s.add(row)
            s.flush()
            if original.status == "running":
                self.waiting.setdefault(original.number, []).append((ot_trial.number, ot_trial))
                return True
            self._copy_result(row, original)
            state, values = self._outcome(original)
        self._done(row, note=f"same config as trial {original.number}")
        self._tell(ot_trial, state, values)
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
            row.node = node or row.node
            row.heartbeat_at = utcnow()

    def report(self, tune_id: str, result: Mapping[str, Any]) -> None:
        """One reported result: an epoch's metrics are recorded (one transaction)."""
        live = self.live.get(tune_id)
        if live is None or dict(result) == live.last_result:
            return  # not ours, or the same result again (finish() passes Tune's last result)
        live.last_result = dict(result)
        epoch = epoch_of(result)
        if epoch is None or result.get("status") not in (None, "running", "completed"):
            return  # a closing report (diverged, failed...): its status is read by finish()
        with session_scope(self.engine) as s:
            row = repo.get_trial(s, self.search_id, live.number)
            repo.record_epoch(s, row, epoch, dict(result))
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
        status, message = self._final_status(last, error, live.epochs_planned)
        with session_scope(self.engine) as s:
            row = repo.get_trial(s, self.search_id, live.number)
            if row.status != "running":  # already settled (replayed event)
                return
            row.status = status
            row.finished_at = utcnow()
            if message and not row.error:
                row.error = message
            if last.get("checkpoint") and isinstance(last["checkpoint"], str):
                row.checkpoint = last["checkpoint"]
            state, values = self._outcome(row)
            row.values = clean_json(values)
            if status == "completed":
                repo.add_to_pareto(s, row, self.objectives)
        self._done(row, note=None if status == "completed" else row.error)
        if state == TrialState.PRUNED:
            self._tell_intermediate(live)
        self._tell(live.ot_trial, state, values)
        self._settle_waiting(live.number)

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

    def set_checkpoint(self, number: int, path: str) -> None:
        with session_scope(self.engine) as s:
            row = repo.get_trial(s, self.search_id, number)
            row.checkpoint = path

    def _final_status(
        self, last: Mapping[str, Any], error: bool, planned: int | None
    ) -> tuple[str, str | None]:
        if error:
            return "failed", "the trial raised an error"
        reported = last.get("status")
        if reported in REPORTED_STATUSES:
            reason = last.get("reason") or last.get("error")
            return str(reported), str(reason) if reason else None
        if self.stop_reason is not None:
            return "cancelled", self.stop_reason
        done = epoch_of(last) or 0
        if planned is not None and done >= planned:
            return "completed", None
        if not last:
            return "cancelled", "stopped before it started"
        return "pruned", f"stopped early by the scheduler after epoch {done}"

    def _settle_waiting(self, number: int) -> None:
        waiting = self.waiting.pop(number, [])
        if not waiting:
            return
        settled = []
        with session_scope(self.engine) as s:
            original = repo.get_trial(s, self.search_id, number)
            state, values = self._outcome(original)
            gone = original.status in ("cancelled", "interrupted")
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
            self._tell(ot_trial, state, values)

    def _done(self, row: Trial, note: str | None) -> None:
        """Tell :attr:`on_trial_done` about a settled row (read after its commit)."""
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
    # Optuna
    # ------------------------------------------------------------------------------------------

    def _values_for(
        self, acc: float | None, params: int | None, flops: int | None, worst_accuracy: bool
    ) -> list[float] | None:
        out: list[float] = []
        for objective in self.objectives:
            value: float | None
            if objective.metric == "val_acc":
                value = 0.0 if worst_accuracy and acc is None else acc
            elif objective.metric == "params":
                value = None if params is None else float(params)
            else:
                value = None if flops is None else float(flops)
            if value is None or not math.isfinite(value):
                return None
            out.append(value)
        return out

    def _outcome(self, row: Trial) -> tuple[TrialState, list[float] | None]:
        if row.status in ("rejected", "duplicate"):  # values settled when it was recorded
            values = list(row.values) if row.values else None
            return (TrialState.COMPLETE, values) if values else (TrialState.FAIL, None)
        state = _TOLD.get(row.status, TrialState.FAIL)
        if state == TrialState.FAIL:
            return state, None
        diverged = row.status == "diverged"
        values = self._values_for(row.best_val_acc, row.n_params, row.flops, diverged)
        if state == TrialState.COMPLETE and values is None:
            return TrialState.FAIL, None
        if state == TrialState.PRUNED:
            return state, None  # Optuna takes a pruned trial's last intermediate value
        return state, values

    def _tell(
        self, ot_trial: optuna.Trial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        try:
            self.study.tell(ot_trial, values, state=state, skip_if_finished=True)
        except Exception as exc:  # Optuna refuses e.g. NaN: the record stays, log it
            log.warning("could not tell Optuna about trial %s: %s", ot_trial.number, exc)

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
                    Trial.status == "duplicate",
                    Trial.values.is_(None),
                    Trial.finished_at.is_(None),
                )
            ).all()
            for row in waiting:
                row.status = "interrupted"
                row.finished_at = utcnow()
                row.error = f"its original (trial {row.duplicate_of}) was interrupted"
        rows = {}
        with session_scope(self.engine) as s:
            for row in s.scalars(select(Trial).where(Trial.search_id == self.search_id)):
                rows[row.number] = (row.status, self._outcome(row))
        for frozen in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            status, (state, values) = rows.get(frozen.number, ("interrupted", (None, None)))
            if status == "running":
                continue
            if state is None:
                state, values = TrialState.FAIL, None
            self._tell_number(frozen.number, state, values)
        with session_scope(self.engine) as s:
            repo.update_pareto(s, self.search_id, self.objectives)
        return interrupted

    def _tell_number(self, number: int, state: TrialState, values: Sequence[float] | None) -> None:
        try:
            self.study.tell(number, values, state=state, skip_if_finished=True)
        except Exception as exc:
            log.warning("could not settle Optuna trial %s: %s", number, exc)

    def progress(self, elapsed: float, now: datetime | None = None) -> Progress:
        """Counts, best so far and what the ETA needs (trial durations, running trials' ages)."""
        now = now or utcnow()
        with session_scope(self.engine) as s:
            counts = repo.trial_counts(s, self.search_id)
            best = s.execute(
                select(Trial.best_val_acc, Trial.number)
                .where(
                    Trial.search_id == self.search_id,
                    Trial.status == "completed",
                    Trial.best_val_acc.is_not(None),
                )
                .order_by(Trial.best_val_acc.desc(), Trial.number)
                .limit(1)
            ).first()
            timing = s.execute(
                select(Trial.status, Trial.created_at, Trial.started_at, Trial.finished_at).where(
                    Trial.search_id == self.search_id,
                    Trial.status.in_(("running", *TRAINED_STATUSES)),
                )
            ).all()
        durations = [
            (done - (started or created)).total_seconds()
            for status, created, started, done in timing
            if status != "running" and done is not None
        ]
        ages = [
            (now - (started or created)).total_seconds()
            for status, created, started, _ in timing
            if status == "running"
        ]
        summary = repo.SearchSummary(None, counts)  # type: ignore[arg-type]
        return Progress(
            search_id=self.search_id,
            requested=self.requested,
            finished=summary.finished,
            running=counts.get("running", 0),
            failed=summary.failed,
            duplicate=counts.get("duplicate", 0),
            rejected=counts.get("rejected", 0),
            best_val_acc=best[0] if best else None,
            best_trial=best[1] if best else None,
            elapsed=elapsed,
            finished_this_run=summary.finished - self.finished_at_start,
            mean_trial_seconds=sum(durations) / len(durations) if durations else None,
            running_elapsed=tuple(sorted(ages, reverse=True)),
            concurrency=self.spec.search.concurrency,
        )


def epoch_of(result: Mapping[str, Any]) -> int | None:
    """The epoch a result reports (``epoch``, else Tune's ``training_iteration``)."""
    if "val_acc" not in result and "epoch" not in result:
        return None
    for key in ("epoch", "training_iteration"):
        value = result.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None

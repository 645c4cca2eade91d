"""Progress of a running search: counts, best so far, elapsed and estimated remaining time, and
one line per trial as it finishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from search.records import repository as repo
from search.records.db import Search, Trial, session_scope, utcnow
from search.records.leaderboard import default_sort, objectives_of, parse_sort
from space.status import FAILED_TRIAL, FINISHED_TRIAL, TRAINED_TRIAL, TrialStatus
from space.trial_fields import field


@dataclass(frozen=True)
class Progress:
    search_id: int
    requested: int
    finished: int
    running: int
    failed: int
    duplicate: int
    rejected: int
    # The best value of the search's first objective (named by ``best_metric``) and its trial.
    best_value: float | None
    best_trial: int | None
    elapsed: float
    # Trials finished by this driver run (resume: not the ones already done before).
    finished_this_run: int
    # Mean wall-clock seconds of the search's trained trials so far (None before the first).
    mean_trial_seconds: float | None = None
    # How long each running trial has been training, in seconds.
    running_elapsed: tuple[float, ...] = ()
    concurrency: int = 1
    best_metric: str = "val_acc"

    @property
    def best_val_acc(self) -> float | None:
        """The best validation accuracy, when that is the first objective (else None)."""
        return self.best_value if self.best_metric == "val_acc" else None

    @property
    def eta(self) -> float | None:
        """Seconds left: the work left (each running trial's expected remainder, plus a mean
        trial per trial not started) over the trials that run at once.

        Nothing happening never makes that estimate grow: the running trials' elapsed times only
        rise, so their remainders only shrink (to zero for one that overruns the mean). A finished
        trial changes the mean, which may move it either way. None until a trial has finished.

        Once a round of trials (``concurrency``) has finished in this run, it is never less
        than the rest at this run's finishing rate: when the orchestration rather than the
        training sets the pace (many short trials), the slots are not all busy and the work
        estimate alone would promise seconds for minutes of trials.
        """
        left = max(0, self.requested - self.finished)
        if left == 0:
            return 0.0
        mean = self.mean_trial_seconds
        if mean is None:
            return None
        running = self.running_elapsed[:left]
        work = sum(max(mean - e, 0.0) for e in running) + max(left - len(running), 0) * mean
        by_work = work / max(1, min(self.concurrency, left))
        if self.finished_this_run < max(2, self.concurrency) or self.elapsed <= 0:
            return by_work
        return max(by_work, left * self.elapsed / self.finished_this_run)

    def line(self) -> str:
        best = (
            f"best {self.best_metric} {metric_text(self.best_metric, self.best_value)} "
            f"(trial {self.best_trial})"
            if self.best_value is not None
            else "best -"
        )
        extra = []
        if self.duplicate:
            extra.append(f"{self.duplicate} duplicate")
        if self.rejected:
            extra.append(f"{self.rejected} rejected")
        more = f", {', '.join(extra)}" if extra else ""
        eta = self.eta
        if eta is None:
            left = "~? left"
        elif eta < 1 and 0 < self.requested - self.finished <= self.running:
            left = "last trials running"  # they outlast the mean: no honest number to give
        else:
            left = f"~{duration(eta)} left"
        return (
            f"[{duration(self.elapsed)}] search {self.search_id}: "
            f"{self.finished}/{self.requested} done, {self.running} running, "
            f"{self.failed} failed{more} | {best} | {left}"
        )


def measure(
    engine: Engine,
    search_id: int,
    *,
    requested: int,
    finished_before: int,
    concurrency: int,
    elapsed: float,
    now: datetime | None = None,
) -> Progress:
    """A search's :class:`Progress` from its records: counts, the best completed trial, and
    what the ETA needs (trained trials' durations, running trials' ages). ``finished_before``:
    trials finished before this driver run started."""
    now = now or utcnow()
    with session_scope(engine) as s:
        counts = repo.trial_counts(s, search_id)
        spec = s.scalar(select(Search.spec).where(Search.id == search_id)) or {}
        column, goal, metric = parse_sort(default_sort(objectives_of(spec)))
        best = s.execute(
            select(column, Trial.number)
            .where(
                Trial.search_id == search_id,
                Trial.status == TrialStatus.COMPLETED,
                column.is_not(None),
            )
            .order_by(column.desc() if goal == "max" else column.asc(), Trial.number)
            .limit(1)
        ).first()
        timing = s.execute(
            select(Trial.status, Trial.created_at, Trial.started_at, Trial.finished_at).where(
                Trial.search_id == search_id,
                Trial.status.in_((TrialStatus.RUNNING, *TRAINED_TRIAL)),
            )
        ).all()
    durations = [
        (done - (started or created)).total_seconds()
        for status, created, started, done in timing
        if status != TrialStatus.RUNNING and done is not None
    ]
    ages = [
        (now - (started or created)).total_seconds()
        for status, created, started, _ in timing
        if status == TrialStatus.RUNNING
    ]
    finished = sum(counts.get(status, 0) for status in FINISHED_TRIAL)
    return Progress(
        search_id=search_id,
        requested=requested,
        finished=finished,
        running=counts.get(TrialStatus.RUNNING, 0),
        failed=sum(counts.get(status, 0) for status in FAILED_TRIAL),
        duplicate=counts.get(TrialStatus.DUPLICATE, 0),
        rejected=counts.get(TrialStatus.REJECTED, 0),
        best_value=float(best[0]) if best else None,
        best_metric=metric,
        best_trial=best[1] if best else None,
        elapsed=elapsed,
        finished_this_run=finished - finished_before,
        mean_trial_seconds=sum(durations) / len(durations) if durations else None,
        running_elapsed=tuple(sorted(ages, reverse=True)),
        concurrency=concurrency,
    )


@dataclass(frozen=True)
class TrialDone:
    """One trial settled: printed between the periodic :class:`Progress` lines."""

    search_id: int
    number: int
    status: str
    val_acc: float | None
    params: int | None
    seconds: float | None
    note: str | None = None
    neural_fit: float | None = None

    def line(self) -> str:
        parts = [f"  trial {self.number}: {self.status}"]
        if self.val_acc is not None:
            parts.append(f"val_acc {self.val_acc:.4f}")
        if self.neural_fit is not None:
            parts.append(f"neural_fit {self.neural_fit:.4f}")
        if self.params is not None:
            parts.append(f"{self.params:,} params")
        if self.seconds is not None:
            parts.append(f"{self.seconds:.1f}s")
        text = ", ".join(parts)
        return f"{text} ({self.note})" if self.note else text


def metric_text(metric: str, value: float | None) -> str:
    """A score to four decimals, a count (params, flops) or bytes with thousands separators."""
    if value is None:
        return "-"
    whole = field(metric).kind in ("count", "bytes")
    return f"{round(value):,}" if whole else f"{value:.4f}"


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"

"""Honest outcomes: how a trial ended, when a search gives up early, and when a finished one
has failed.

:func:`final_status`: a trial's status from its last result (what the trainable reported, else
whether it trained all its epochs, else whether the scheduler or a stop cut it short).

A search whose trials all fail the same way (a dataset path that does not exist, a worker
without the right package) would otherwise spend its whole budget failing, then report
``succeeded``. Two rules:

- :class:`FailureStreak`: after ``search.stop_after_failures`` trials in a row failed with the
  same error (default 5; None never gives up), the driver stops proposing and the search ends
  ``failed`` with that error.
- :func:`no_success_reason`: a search that ends with no completed trial ends ``failed``, with
  the commonest error among its trials (``all 40 trials failed: dataset.path: no such file``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from search.records.db import Trial
from space.spec import SearchSpec
from space.status import FINISHED_TRIAL, TrialStatus

DEFAULT_STOP_AFTER_FAILURES = 5
# Final statuses a trainable may report (its last result's ``status``).
REPORTED_STATUSES = frozenset(
    {TrialStatus.COMPLETED, TrialStatus.DIVERGED, TrialStatus.OUT_OF_MEMORY, TrialStatus.FAILED}
)
# Outcomes that say nothing about whether trials can succeed: they neither extend nor end a
# streak (a duplicate copies another trial's result, a rejection never ran).
_NEUTRAL = frozenset(
    {
        TrialStatus.DUPLICATE,
        TrialStatus.REJECTED,
        TrialStatus.CANCELLED,
        TrialStatus.INTERRUPTED,
        TrialStatus.RUNNING,
    }
)
# Errors that point at another trial rather than say what went wrong.
_DERIVED = (TrialStatus.DUPLICATE,)


def epoch_of(result: Mapping[str, Any]) -> int | None:
    """The epoch a result reports (``epoch``, else Tune's ``training_iteration``)."""
    if "val_acc" not in result and "epoch" not in result:
        return None
    for key in ("epoch", "training_iteration"):
        value = result.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def final_status(
    last: Mapping[str, Any], error: bool, planned: int | None, stop_reason: str | None
) -> tuple[TrialStatus, str | None]:
    """A trial's final status and message from its ``last`` result. ``error``: it raised;
    ``planned``: the epochs it was to train; ``stop_reason``: why the run is stopping, if it
    is (a trial it cuts short is cancelled, not pruned: its slot is spent again)."""
    if error:
        return TrialStatus.FAILED, "the trial raised an error"
    reported = last.get("status")
    if reported in REPORTED_STATUSES:
        reason = last.get("reason") or last.get("error")
        return TrialStatus(reported), str(reason) if reason else None
    if stop_reason is not None:
        return TrialStatus.CANCELLED, stop_reason
    done = epoch_of(last) or 0
    if planned is not None and done >= planned:
        return TrialStatus.COMPLETED, None
    if not last:
        return TrialStatus.CANCELLED, "stopped before it started"
    return TrialStatus.PRUNED, f"stopped early by the scheduler after epoch {done}"


def stop_after_failures(spec: SearchSpec) -> int | None:
    """The spec's ``search.stop_after_failures`` (None: never give up)."""
    return getattr(spec.search, "stop_after_failures", DEFAULT_STOP_AFTER_FAILURES)


class FailureStreak:
    """Counts trials in a row that failed with one and the same error message."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.error: str | None = None
        self.count = 0

    def add(self, status: str, error: str | None) -> str | None:
        """One settled trial; returns the reason to give up once the limit is reached."""
        if status in _NEUTRAL:
            return None
        if status != TrialStatus.FAILED:
            self.error, self.count = None, 0
            return None
        message = error or "no error recorded"
        if message == self.error:
            self.count += 1
        else:
            self.error, self.count = message, 1
        if self.limit is not None and self.count >= self.limit:
            return (
                f"stopped after {self.count} trials in a row failed with the same error: {message}"
            )
        return None


def no_success_reason(session: Session, search_id: int) -> str | None:
    """None when a trial of the search completed; else why the search failed, naming the
    commonest error of its finished trials."""
    rows = session.execute(
        select(Trial.status, Trial.error, func.count())
        .where(Trial.search_id == search_id, Trial.status.in_(FINISHED_TRIAL))
        .group_by(Trial.status, Trial.error)
    ).all()
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for status, error, n in rows:
        statuses[status] += n
        if error and status not in _DERIVED:
            errors[error] += n
    if statuses[TrialStatus.COMPLETED]:
        return None
    total = sum(statuses.values())
    commonest = errors.most_common(1)[0][0] if errors else None
    if total == 0:
        return "no trial finished"
    if statuses[TrialStatus.FAILED] == total:
        head = f"all {total} trials failed"
    else:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        head = f"no trial of {total} completed ({counts})"
    return f"{head}: {commonest}" if commonest else head

"""Every status a search, a trial or a training run can have: the one definition of each.

They are ``StrEnum``s, so a status compares equal to its string, is stored as that string in the
database and prints as it in JSON; nothing else in the project spells a status as a bare literal.
"""

from __future__ import annotations

from enum import StrEnum


class SearchStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


class TrialStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    PRUNED = "pruned"
    FAILED = "failed"
    DIVERGED = "diverged"
    OUT_OF_MEMORY = "out_of_memory"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


class RunStatus(StrEnum):
    """How one training run stands (``workers.loop``); a trial's status is derived from it."""

    RUNNING = "running"  # an epoch reported while more remain
    COMPLETED = "completed"
    DIVERGED = "diverged"
    OUT_OF_MEMORY = "out_of_memory"
    FAILED = "failed"
    STOPPED = "stopped"


# A search in one of these states will not change again unless a user resumes it.
SEARCH_ENDED = frozenset(
    {SearchStatus.SUCCEEDED, SearchStatus.FAILED, SearchStatus.CANCELLED, SearchStatus.INTERRUPTED}
)
# A trial in one of these states did not use up one of the search's requested trials:
# ``interrupted`` (the driver died under it) and ``cancelled`` (the user stopped the search) are
# spent again on resume; ``running`` is not settled yet.
UNFINISHED_TRIAL = frozenset({TrialStatus.RUNNING, TrialStatus.CANCELLED, TrialStatus.INTERRUPTED})
FINISHED_TRIAL = frozenset(TrialStatus) - UNFINISHED_TRIAL
# Trials a worker trained (a result exists, possibly a failure).
TRAINED_TRIAL = frozenset(
    {
        TrialStatus.COMPLETED,
        TrialStatus.PRUNED,
        TrialStatus.FAILED,
        TrialStatus.DIVERGED,
        TrialStatus.OUT_OF_MEMORY,
    }
)
# Trained but without a usable model.
FAILED_TRIAL = frozenset({TrialStatus.FAILED, TrialStatus.DIVERGED, TrialStatus.OUT_OF_MEMORY})

"""Every read of Optuna's private API in convnas, in one place: an Optuna upgrade can rename any of
it without notice, so each use degrades to a public (slower or poorer) answer instead of failing,
and ``tests/search/test_private_apis.py`` fails on any Optuna other than :data:`CHECKED_AGAINST`
until someone re-checks this module against it.

Optuna is imported here, never torch or Ray.
"""

from __future__ import annotations

from typing import Any

import optuna
from sqlalchemy import select
from sqlalchemy.orm import Session

# The Optuna release these reads were checked against (the private names and their signatures).
CHECKED_AGAINST = "5.1.0"


def storage_trial_id(trial: optuna.Trial) -> int | None:
    """The storage's id of a trial (the ``trial_id`` column of Optuna's tables), kept on our record
    for whoever joins the two; None where Optuna no longer says (the record does not need it).

    Public Optuna names a trial by study and number only; the id behind them costs a storage
    query (``get_trial_id_from_study_id_trial_number``) on every proposal, while the asked
    trial already holds it.
    """
    value = getattr(trial, "_trial_id", None)
    return value if isinstance(value, int) else None


def latest_complete_trials(storage: Any, study_id: int, count: int) -> list[Any]:
    """The latest ``count`` completed trials of a study (frozen, oldest first), read without
    loading the others.

    The public ``get_all_trials`` reads every trial (about 40 s at 100k trials). The cut-off
    reads Optuna's RDB tables and pages with ``RDBStorage._get_trials`` (Optuna 5's own
    paging); where either is gone, every completed trial is read and the latest are kept.
    """
    complete = optuna.trial.TrialState.COMPLETE
    try:
        from optuna.storages._rdb import models

        table = models.TrialModel
        with Session(storage.engine) as s:
            cutoff = s.scalar(
                select(table.trial_id)
                .where(table.study_id == study_id, table.state == complete)
                .order_by(table.trial_id.desc())
                .offset(count - 1)
                .limit(1)
            )
        return list(storage._get_trials(study_id, (complete,), set(), (cutoff or 0) - 1))
    except (ImportError, AttributeError, TypeError):
        every = storage.get_all_trials(study_id, deepcopy=False, states=(complete,))
        return list(every)[-count:]

"""The service layer: the one thing every way in (CLI, HTTP API, web pages) calls.

Functions take an engine, return the pydantic models of :mod:`search.service.schemas` (the public
schema) and raise :class:`~search.errors.NotFound`, :class:`~search.errors.Conflict` or
:class:`~search.errors.InvalidRequest` (a :class:`~space.errors.SpecError` naming fields). Importing
it imports neither torch nor Ray (an import-linter contract holds it to that).
"""

from __future__ import annotations

from search.errors import Conflict, InvalidRequest, NotFound
from search.records.leaderboard import TrialQuery
from search.service.charts import ImportanceOut, SearchCharts, importance, search_charts
from search.service.health import HealthOut, RunnerOut, health
from search.service.policy import Limits, policy_problems
from search.service.presets import preset, presets
from search.service.schemas import (
    ActionOut,
    EpochOut,
    ExportOut,
    LeaderboardPage,
    PresetDetail,
    PresetOut,
    ProblemOut,
    SearchOut,
    SearchPage,
    TrialDetail,
    TrialOut,
    ValidationOut,
)
from search.service.searches import (
    SpecInput,
    cancel,
    delete,
    get_search,
    list_searches,
    load,
    resume,
    submit,
    validate_spec,
)
from search.service.trials import export, pareto, trial, trials
from search.service.weights import weights_file

__all__ = [
    "ActionOut",
    "Conflict",
    "EpochOut",
    "ExportOut",
    "HealthOut",
    "ImportanceOut",
    "InvalidRequest",
    "LeaderboardPage",
    "Limits",
    "NotFound",
    "PresetDetail",
    "PresetOut",
    "ProblemOut",
    "RunnerOut",
    "SearchCharts",
    "SearchOut",
    "SearchPage",
    "SpecInput",
    "TrialDetail",
    "TrialOut",
    "TrialQuery",
    "ValidationOut",
    "cancel",
    "delete",
    "export",
    "get_search",
    "health",
    "importance",
    "list_searches",
    "load",
    "pareto",
    "policy_problems",
    "preset",
    "presets",
    "resume",
    "search_charts",
    "submit",
    "trial",
    "trials",
    "validate_spec",
    "weights_file",
]

"""The service layer: the one thing every way in (CLI, HTTP API, web pages) calls.

Functions take an engine, return the pydantic models of :mod:`search.service.schemas` (the public
schema) and raise :class:`~search.errors.NotFound`, :class:`~search.errors.Conflict` or
:class:`~search.errors.InvalidRequest` (a :class:`~space.errors.SpecError` naming fields).
:class:`Service` is the surface a client calls, implemented on an engine (:class:`LocalService`)
and over HTTP (``api.client.ApiClient``).

This module is the service's only door: code outside ``search`` imports from here, never from
its submodules nor from ``search.records`` (an import-linter contract holds it to that; the
CLI's run commands alone reach ``search.run``). So the few record-level names a way in needs
(the engine, the database errors, the leaderboard's bounds) are re-exported here. Importing it
imports neither torch nor Ray (another contract).
"""

from __future__ import annotations

from search.errors import Conflict, InvalidRequest, NotFound, StorageUnavailable
from search.records.db import DatabaseError, NoDatabase, create_db_engine, get_engine
from search.records.export import render as render_export
from search.records.leaderboard import MAX_AMOUNT, MAX_OFFSET, SORT_COLUMNS, TrialQuery
from search.records.param_filters import MAX_PARAM_FILTERS
from search.records.schema_lock import SchemaLockTimeout
from search.service.charts import ImportanceOut, SearchCharts, importance, search_charts
from search.service.convrnn import ConvRNNViews, convrnn_views
from search.service.health import HealthOut, RunnerOut, health, unreachable
from search.service.metrics import MetricsOut, metrics
from search.service.notes import MAX_NOTE_CHARS, checked_note, set_search_note, set_trial_note
from search.service.plots import ContourOut, CurvesOut, ExploreOut, contour, curves, explore
from search.service.policy import Limits, policy_problems
from search.service.presets import preset, presets
from search.service.schemas import (
    BOARD_COLUMNS,
    ActionOut,
    AttemptOut,
    EpochOut,
    ExportOut,
    LeaderboardPage,
    PresetDetail,
    PresetOut,
    ProblemOut,
    RecoveryOut,
    SearchOut,
    SearchPage,
    TrialDetail,
    TrialOut,
    ValidationOut,
    shown_columns,
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
from search.service.surface import LocalService, Service
from search.service.trials import (
    check_export_target,
    csv_text,
    export,
    pareto,
    trial,
    trials,
    trials_csv,
)
from search.service.weights import weights_file
from space.settings import DEFAULT_MAX_DATASET_PIXELS

__all__ = [
    "BOARD_COLUMNS",
    "DEFAULT_MAX_DATASET_PIXELS",
    "MAX_AMOUNT",
    "MAX_NOTE_CHARS",
    "MAX_OFFSET",
    "MAX_PARAM_FILTERS",
    "SORT_COLUMNS",
    "ActionOut",
    "AttemptOut",
    "Conflict",
    "ContourOut",
    "ConvRNNViews",
    "CurvesOut",
    "DatabaseError",
    "EpochOut",
    "ExploreOut",
    "ExportOut",
    "HealthOut",
    "ImportanceOut",
    "InvalidRequest",
    "LeaderboardPage",
    "Limits",
    "LocalService",
    "MetricsOut",
    "NoDatabase",
    "NotFound",
    "PresetDetail",
    "PresetOut",
    "ProblemOut",
    "RecoveryOut",
    "RunnerOut",
    "SchemaLockTimeout",
    "SearchCharts",
    "SearchOut",
    "SearchPage",
    "Service",
    "SpecInput",
    "StorageUnavailable",
    "TrialDetail",
    "TrialOut",
    "TrialQuery",
    "ValidationOut",
    "cancel",
    "check_export_target",
    "checked_note",
    "contour",
    "convrnn_views",
    "create_db_engine",
    "csv_text",
    "curves",
    "delete",
    "explore",
    "export",
    "get_engine",
    "get_search",
    "health",
    "importance",
    "list_searches",
    "load",
    "metrics",
    "pareto",
    "policy_problems",
    "preset",
    "presets",
    "render_export",
    "resume",
    "search_charts",
    "set_search_note",
    "set_trial_note",
    "shown_columns",
    "submit",
    "trial",
    "trials",
    "trials_csv",
    "unreachable",
    "validate_spec",
    "weights_file",
]

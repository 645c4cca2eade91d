"""Trials: the leaderboard, the Pareto front, one trial in full, and export."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from sqlalchemy import Engine

from search import export as exporting
from search import repository as repo
from search.db import session_scope
from search.errors import InvalidRequest
from search.leaderboard import TrialQuery, leaderboard, rank_of
from search.service.schemas import ExportOut, LeaderboardPage, TrialDetail
from search.service.views import trial_detail, trial_out

Format = Literal["yaml", "json"]


def trials(engine: Engine, ref: str | int, query: TrialQuery = TrialQuery()) -> LeaderboardPage:
    """One page of a search's trials, best first by ``query.sort``."""
    with session_scope(engine) as s:
        search = repo.resolve_search(s, ref)
        rows, total, sort = leaderboard(s, search, query)
        start = query.offset + 1
        return LeaderboardPage(
            search_id=search.id,
            search_name=search.name,
            sort=sort,
            total=total,
            limit=query.limit,
            offset=query.offset,
            items=[trial_out(t, rank) for rank, t in enumerate(rows, start=start)],
        )


def pareto(engine: Engine, ref: str | int) -> LeaderboardPage:
    """The Pareto-optimal completed trials (one objective: those tied for the best)."""
    return trials(engine, ref, TrialQuery(pareto=True))


def trial(engine: Engine, ref: str | int, number: int) -> TrialDetail:
    """One trial with its architecture, preprocessing and per-epoch metrics."""
    with session_scope(engine) as s:
        search = repo.resolve_search(s, ref)
        found = repo.get_trial(s, search.id, number)
        return trial_detail(found, rank_of(s, search, found))


def export(
    engine: Engine,
    ref: str | int,
    *,
    number: int | None = None,
    fmt: str = "yaml",
    output: Path | None = None,
    weights: bool = False,
) -> ExportOut:
    """A trial's architecture with provenance (the best trial unless ``number``).

    With ``output`` the document is written there, and with ``weights`` the trained weights
    beside it.
    """
    checked = _format(fmt)
    if output is not None and output.is_dir():
        raise InvalidRequest.field("output", "is a folder; give a file name", str(output))
    if weights and output is None:
        raise InvalidRequest.field("weights", "needs output (the weights go beside it)", True)
    with session_scope(engine) as s:
        search = repo.resolve_search(s, ref)
        made = exporting.export_trial(s, search, number, checked, output=output, weights=weights)
        return ExportOut(
            search_id=search.id,
            trial=made.document["provenance"]["trial"]["number"],
            format=checked,
            document=made.document,
            text=made.text,
            weights=str(made.weights) if made.weights else None,
            output=str(output) if output else None,
        )


def _format(fmt: str) -> Format:
    if fmt == "yaml":
        return "yaml"
    if fmt == "json":
        return "json"
    raise InvalidRequest.field("format", "expected yaml or json", fmt)

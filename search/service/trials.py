"""Trials: the leaderboard, the Pareto front, one trial in full, and export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine

from search.errors import InvalidRequest
from search.records import export as exporting
from search.records import repository as repo
from search.records.db import Trial, decode_cells, read_scope
from search.records.leaderboard import (
    Board,
    TrialQuery,
    board_chunk,
    board_of,
    leaderboard,
    rank_of,
)
from search.service.schemas import (
    CSV_COLUMNS,
    ExportOut,
    LeaderboardPage,
    TrialDetail,
    TrialOut,
)
from search.service.views import trial_detail, trial_out
from space.trial_fields import field

Format = Literal["yaml", "json"]


def trials(engine: Engine, ref: str | int, query: TrialQuery = TrialQuery()) -> LeaderboardPage:
    """One page of a search's trials, best first by ``query.sort``."""
    with read_scope(engine) as s:
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


# Rows read per transaction while streaming a CSV: every matching row is sent, never all held.
CSV_CHUNK = 1000
# CSV column -> the trial column it shows (rank is the row's position).
_CSV_SOURCES: dict[str, Any] = {
    name: getattr(Trial, field(name).stored) for name in CSV_COLUMNS if name != "rank"
}
_CELLS = CSV_COLUMNS.index("cells")


def csv_text(items: Iterable[TrialOut], *, header: bool = True) -> str:
    """Leaderboard rows as CSV (the CSV_COLUMNS of each; the cell kinds joined by ``;``): what
    the CLI's ``--csv`` prints and, row for row, what :func:`trials_csv` streams."""
    rows: list[list[Any]] = [list(CSV_COLUMNS)] if header else []
    for item in items:
        data = item.model_dump(mode="json", exclude={"sampled"})
        rows.append([data[column] for column in CSV_COLUMNS])
        rows[-1][_CELLS] = ";".join(rows[-1][_CELLS])
    return _csv_lines(rows)


def _csv_lines(rows: Iterable[Sequence[Any]]) -> str:
    # The csv module writes None as empty, booleans as True/False and floats as repr.
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def trials_csv(
    engine: Engine, ref: str | int, query: TrialQuery = TrialQuery(), *, chunk: int = CSV_CHUNK
) -> Iterator[str]:
    """Every trial matching ``query`` as CSV text: the header, then the rows best first, exactly
    as :func:`csv_text` writes the leaderboard's rows (``limit`` and ``offset`` are ignored).

    The search and the query are checked here, before anything is returned (NotFound,
    InvalidRequest), so that a caller can answer with an error before it starts streaming.
    The rows are then read ``chunk`` at a time (keyset paging), each chunk in its own short
    transaction so that a slow reader never holds the database, and yielded as one string each.
    """
    if chunk < 1:
        raise InvalidRequest.field("chunk", "must be at least 1", chunk)
    with read_scope(engine) as s:
        board = board_of(repo.resolve_search(s, ref), replace(query, limit=None, offset=0))
    return _csv_chunks(engine, board, chunk)


def _csv_chunks(engine: Engine, board: Board, chunk: int) -> Iterator[str]:
    columns = [_CSV_SOURCES[name] for name in CSV_COLUMNS if name != "rank"]
    yield _csv_lines([CSV_COLUMNS])
    rank, after = 0, None
    while True:
        with read_scope(engine) as s:
            rows = board_chunk(s, board, columns, after, chunk)
        if not rows:
            return
        lines = []
        for row in rows:
            rank += 1
            line = [rank, *row[: len(columns)]]
            line[_CELLS] = ";".join(decode_cells(line[_CELLS]))
            lines.append(line)
        after = (rows[-1][-2], rows[-1][-1])
        yield _csv_lines(lines)
        if len(rows) < chunk:
            return


def pareto(engine: Engine, ref: str | int) -> LeaderboardPage:
    """The Pareto-optimal completed trials (one objective: those tied for the best)."""
    return trials(engine, ref, TrialQuery(pareto=True))


def trial(engine: Engine, ref: str | int, number: int) -> TrialDetail:
    """One trial with its architecture, preprocessing and per-epoch metrics."""
    with read_scope(engine) as s:
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
    check_export_target(output, weights)
    with read_scope(engine) as s:
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


def check_export_target(output: Path | None, weights: bool) -> None:
    """Where an export is written: a file (not a folder), which weights need beside them."""
    if output is not None and output.is_dir():
        raise InvalidRequest.field("output", "is a folder; give a file name", str(output))
    if weights and output is None:
        raise InvalidRequest.field("weights", "needs output (the weights go beside it)", True)


def _format(fmt: str) -> Format:
    if fmt == "yaml":
        return "yaml"
    if fmt == "json":
        return "json"
    raise InvalidRequest.field("format", "expected yaml or json", fmt)

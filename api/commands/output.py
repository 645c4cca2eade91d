"""How the CLI prints the service's models: consoles, cells and the leaderboard table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from space.cost import human_bytes, human_count

if TYPE_CHECKING:  # the service (SQLAlchemy) is imported by the commands that use it
    from search.service import TrialOut

# Printed in the table as 12.3k / 4.56M / 1.2 MiB; exact in --json and --csv.
HUMAN = {"params": human_count, "flops": human_count, "memory": human_bytes}


def console(*, stderr: bool = False) -> Console:
    """The CLI's console: the terminal's width on a terminal; piped to a file or a test runner,
    tables are 160 columns wide and text lines are never wrapped (a log line read whole, whatever
    COLUMNS or the path lengths in it)."""
    found = Console(highlight=False, stderr=stderr)
    if found.is_terminal:
        return found
    return Console(width=160, soft_wrap=True, highlight=False, stderr=stderr)


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def cell(column: str, value: Any) -> str:
    if column == "pareto":
        return "*" if value else ""
    if column in HUMAN and isinstance(value, int):
        return HUMAN[column](value)
    return fmt(value, 1 if column == "seconds" else 4)


def board_table(rows: Sequence[TrialOut], title: str) -> Table:
    from search.service.schemas import BOARD_COLUMNS

    table = Table(title=title, title_justify="left")
    for col in BOARD_COLUMNS:
        table.add_column(col, justify="left" if col in ("status", "arch_hash") else "right")
    for row in rows:
        data = row.model_dump(mode="json")
        table.add_row(*(cell(c, data[c]) for c in BOARD_COLUMNS))
    return table

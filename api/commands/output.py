"""How the CLI prints the service's models: consoles, cells and the leaderboard table."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from space.cost import human_bytes, human_count
from space.trial_fields import field

# Printed in a table by the field's kind (space.trial_fields) as 12.3k / 1.2 MiB; exact in
# --json and --csv.
HUMAN = {"count": human_count, "bytes": human_bytes}
# Decimals by kind (default 4): seconds to a tenth, a GPU share to a hundredth.
DIGITS = {"seconds": 1, "share": 2}


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
    """A trial field's value in a table, as its kind prints (UnknownField for a name that is
    no trial field)."""
    kind = field(column).kind
    if kind == "flag":
        return "*" if value else ""
    if kind in HUMAN and isinstance(value, int):
        return HUMAN[kind](value)
    return fmt(value, DIGITS.get(kind, 4))

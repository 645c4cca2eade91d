"""Errors that name the field path, the bad value and, for files, the line.

Only the types and how they print: :mod:`space.document` reads documents (recording the line of
every key, so that an error at ``layers.2.cell.kind`` can point at line 17) and
:mod:`space.validation` turns pydantic's errors into these problems.
"""

from __future__ import annotations

import itertools
import reprlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

LinePath = tuple[str | int, ...]

MISSING: Any = object()
"""A problem's value when it has none (not None: None can be the bad value)."""


@dataclass(frozen=True)
class Problem:
    """One problem in a document: where (dotted path, line) and what (message, bad value)."""

    path: str
    message: str
    value: Any = field(default=MISSING, compare=False)
    line: int | None = None
    source: str | None = None

    @property
    def has_value(self) -> bool:
        return self.value is not MISSING

    def __str__(self) -> str:
        where = self.source or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        loc = f"{where}: " if where else ""
        path = self.path or "<root>"
        shown = f" (got {_short(self.value)})" if self.has_value else ""
        return f"{loc}{path}: {self.message}{shown}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "message": self.message, "line": self.line}
        if self.has_value:
            out["value"] = echo(self.value)
        return out


# Problems a rendered error lists before "... and N more".
RENDER_LIMIT = 50
# Characters of a bad value a problem echoes: a 200 kB string aliased 999 times once made a
# 200 MB response out of a 203 kB request.
VALUE_LIMIT = 200


def echo(value: Any, limit: int = VALUE_LIMIT) -> Any:
    """``value`` as a problem shows it: itself when JSON-able and its text is at most ``limit``
    characters, else a string of at most ``limit`` characters: a long string's beginning and
    its length, or a large value's ``repr`` summarised by ``reprlib`` and cut (bounded work
    however large the value: a string aliased 999 times is never written out)."""
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        tail = f"... ({len(value):,} characters)"
        return value[: max(limit - len(tail), 0)] + tail
    if _jsonable(value) and _room(value, limit) >= 0:
        return value
    return _short(value, limit)


def _room(value: Any, budget: int) -> int:
    """What is left of ``budget`` characters once ``value`` is written out; stops counting
    (returns a negative number) as soon as it runs out, so a huge value costs little."""
    if isinstance(value, (list, tuple, dict)):
        items = itertools.chain.from_iterable(value.items()) if isinstance(value, dict) else value
        budget -= 2
        for item in items:
            budget = _room(item, budget - 2)
            if budget < 0:
                break
        return budget
    if isinstance(value, str):
        return budget - len(value) - 2
    if isinstance(value, int) and abs(value) >= 10**budget:  # skip writing out a huge int
        return -1
    return budget - len(repr(value))


def capped(problems: Sequence[Problem], limit: int = RENDER_LIMIT) -> list[Problem]:
    """The first ``limit`` problems and, when there are more, one saying how many are left out
    (what every way out lists: a response or a JSON report stays small)."""
    if len(problems) <= limit:
        return list(problems)
    return [*problems[:limit], more_problems(len(problems) - limit)]


def more_problems(left: int) -> Problem:
    """The last entry of a capped list: how many problems it leaves out."""
    return Problem("", f"... and {left:,} more problem{'s' if left != 1 else ''} (not listed)")


class ConvnasError(Exception):
    """Base class of every error the product reports to users (never a traceback)."""


class SpecError(ConvnasError, ValueError):
    """A document (search spec or arch) with one or more problems, all reported at once."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self, limit: int = RENDER_LIMIT) -> str:
        """Every problem, one per line, up to ``limit`` (a document of 45,000 unknown keys is
        one mistake repeated; the JSON forms keep them all)."""
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''}:"
        lines = [head, *(f"  - {p}" for p in self.problems[:limit])]
        if n > limit:
            lines.append(f"  ... and {n - limit:,} more")
        return "\n".join(lines)


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, VALUE_LIMIT, VALUE_LIMIT
_REPR.maxlong = VALUE_LIMIT
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 20


def short_repr(value: Any, limit: int = VALUE_LIMIT) -> str:
    """``repr(value)``, cut to ``limit`` characters, in bounded work."""
    return _short(value, limit)


def _short(value: Any, limit: int = 80) -> str:
    # reprlib, not repr: the full repr of an aliased document can run to hundreds of MB.
    try:
        text = _REPR.repr(value) if _room(value, limit) < 0 else repr(value)
    except ValueError:  # an int of over 4,300 digits cannot be written out
        text = f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict))


def dotted(loc: Iterable[str | int]) -> str:
    return ".".join(str(part) for part in loc)


# ------------------------------------------------------------------------------------------------
# Reading documents with line numbers
# ------------------------------------------------------------------------------------------------


class LineMap:
    """Line (1-based) of every key/item in a YAML/JSON document, by its path."""

    def __init__(self, lines: dict[LinePath, int] | None = None):
        self.lines = lines or {}

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """The line of the deepest existing prefix of ``path`` (so a missing key points at its
        parent mapping)."""
        parts = tuple(path)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get((), None)

"""Shared CLI plumbing: errors without tracebacks (fields named as flags), JSON output.

Every product error is a :class:`~space.errors.ConvnasError`; anything else reaching the top is
a bug or an unhandled case, reported in one line by :func:`report_unexpected` (``--debug`` or
``CONVNAS_DEBUG=1`` shows the traceback instead).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import typer
from pydantic import BaseModel

from space.errors import ConvnasError, SpecError

DEBUG_ENV = "CONVNAS_DEBUG"


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def print_json(data: Any) -> None:
    """A model (the public schema), a list of models, or plain data, as indented JSON."""
    sys.stdout.write(json.dumps(_plain(data), indent=2, default=str) + "\n")


def _plain(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [_plain(item) for item in data]
    if isinstance(data, dict):
        return {key: _plain(value) for key, value in data.items()}
    return data


def _as_flags(exc: SpecError, flags: Mapping[str, str]) -> SpecError:
    """The service names request fields (``limit``); the CLI user typed flags (``--top``)."""
    problems = [replace(p, path=flags.get(p.path, p.path)) for p in exc.problems]
    return SpecError(problems)


@contextmanager
def user_errors(as_json: bool = False, flags: Mapping[str, str] | None = None) -> Iterator[None]:
    """Report product errors as readable text (or JSON) and exit 1, never a traceback."""
    try:
        yield
    except SpecError as exc:
        shown = _as_flags(exc, flags or {})
        if as_json:
            print_json({"ok": False, "errors": [p.to_dict() for p in shown.problems]})
        else:
            typer.echo(shown.render(), err=True)
        raise typer.Exit(1) from None
    except ConvnasError as exc:
        if as_json:
            print_json({"ok": False, "errors": [{"message": str(exc)}]})
        else:
            typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def report_unexpected(exc: BaseException) -> int:
    """One line naming an error nobody anticipated, with what to do next; the exit code."""
    if isinstance(exc, MemoryError):
        what = "ran out of memory"
    elif isinstance(exc, RecursionError):
        what = "input nested too deeply (recursion limit)"
    else:
        what = f"{type(exc).__name__}: {exc}".strip()
    typer.echo(
        f"error: unexpected {what}\n"
        f"hint: this is a convnas bug or an unhandled case; rerun with --debug (or "
        f"{DEBUG_ENV}=1) for the traceback and report it",
        err=True,
    )
    return 70  # EX_SOFTWARE: not the user's input error (1) nor a usage error (2)

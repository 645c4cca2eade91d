"""Shared CLI plumbing: error reporting without tracebacks, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer

from space.errors import ConvnasError, SpecError


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def user_errors(as_json: bool = False) -> Iterator[None]:
    """Report product errors as readable text (or JSON) and exit 1, never a traceback."""
    try:
        yield
    except SpecError as exc:
        if as_json:
            print_json({"ok": False, "errors": [p.to_dict() for p in exc.problems]})
        else:
            typer.echo(exc.render(), err=True)
        raise typer.Exit(1) from None
    except ConvnasError as exc:
        if as_json:
            print_json({"ok": False, "errors": [{"message": str(exc)}]})
        else:
            typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


Command = Callable[..., Any]

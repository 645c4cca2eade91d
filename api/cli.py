"""The ``convnas`` command line.

Each command group lives in its own module under ``api.commands`` and adds itself through
``register(app)``; heavy imports (torch, Ray, SQLAlchemy) happen inside the commands that need them.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from api.commands import (
    arch_cmd,
    board_cmd,
    fit_cmd,
    graph_cmd,
    note_cmd,
    search_cmd,
    serve_cmd,
    space_cmd,
    train_cmd,
)
from api.commands.common import DEBUG_ENV, debug_enabled, report_unexpected

app = typer.Typer(
    name="convnas",
    help="Neural architecture search for convolutional recurrent networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for module in (space_cmd, arch_cmd, graph_cmd, train_cmd, search_cmd, board_cmd, serve_cmd):
    module.register(app)
note_cmd.register(app)  # convnas note (issue 23)
fit_cmd.register(app)  # convnas fit, convnas neural synth (issue 14)


@app.callback()
def _options(
    debug: Annotated[
        bool,
        typer.Option("--debug", help=f"Show tracebacks of unexpected errors (or {DEBUG_ENV}=1)."),
    ] = False,
) -> None:
    if debug:
        os.environ[DEBUG_ENV] = "1"


def main() -> None:
    """The console entry point: no traceback unless asked for."""
    try:
        app()
    except Exception as exc:
        if debug_enabled():
            raise
        sys.exit(report_unexpected(exc))

"""The ``convnas`` command line.

Each command group lives in its own module under ``api.commands`` and adds itself through
``register(app)``; heavy imports (torch, Ray, SQLAlchemy) happen inside the commands that need them.
"""

from __future__ import annotations

import typer

from api.commands import arch_cmd, graph_cmd, search_cmd, space_cmd, train_cmd

app = typer.Typer(
    name="convnas",
    help="Neural architecture search for convolutional recurrent networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for module in (space_cmd, arch_cmd, graph_cmd, train_cmd, search_cmd):
    module.register(app)


def main() -> None:
    app()

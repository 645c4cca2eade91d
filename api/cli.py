"""The ``convnas`` command line. Each command group lives in its own module under ``api.commands``;
heavy imports (torch, Ray, SQLAlchemy) happen inside the commands that need them."""

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
app.add_typer(space_cmd.app, name="space", help="Validate, describe and sample search spaces.")
app.add_typer(arch_cmd.app, name="arch", help="Inspect frozen architectures and presets.")
arch_cmd.app.add_typer(graph_cmd.app, name="graph")
app.command("presets")(arch_cmd.presets)
app.add_typer(train_cmd.app, name="train")
app.add_typer(search_cmd.app, name="search", help="Run, resume and cancel searches.")


def main() -> None:
    app()

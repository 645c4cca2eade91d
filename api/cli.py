"""The ``convnas`` command line. Each command group lives in its own module under ``api.commands``;
heavy imports (torch, Ray) happen inside the commands that need them."""

from __future__ import annotations

import typer

from api.commands import arch_cmd, space_cmd

app = typer.Typer(
    name="convnas",
    help="Neural architecture search for convolutional recurrent networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(space_cmd.app, name="space")
app.add_typer(arch_cmd.app, name="arch")
app.command("presets")(arch_cmd.presets)


def main() -> None:
    app()

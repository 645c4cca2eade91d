"""``convnas arch graph``: draw an architecture's layer graph as SVG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.commands.common import print_json, user_errors


def _svg_path(path: Path | None) -> Path | None:
    """The drawing is SVG only: a .png (or any other) name would hold SVG under a false name."""
    if path is not None and path.suffix.lower() != ".svg":
        raise typer.BadParameter(
            f"the graph is drawn as SVG: give a file name ending in .svg (got {str(path)!r})"
        )
    return path


def graph(
    arch_ref: Annotated[
        str, typer.Argument(help="An arch file (YAML/JSON, exported files too) or a preset name.")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            callback=_svg_path,
            help="Write the SVG here, a .svg file (default: print it).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the nodes and edges as JSON (and the file).")
    ] = False,
) -> None:
    """Draw the layer graph: layers with channels and cell kind, feedforward and feedback edges."""
    from space.graph_svg import graph_data, render_svg
    from space.presets import resolve_arch

    with user_errors(as_json):
        arch = resolve_arch(arch_ref)
        svg = render_svg(arch, title=f"{arch_ref} ({arch.arch_hash})")
    if output is not None:
        try:
            output.write_text(svg)
        except OSError as exc:
            typer.echo(f"error: cannot write {output}: {exc.strerror}", err=True)
            raise typer.Exit(1) from None
    if as_json:
        print_json(
            {"arch": arch_ref, "output": str(output) if output else None, **graph_data(arch)}
        )
    elif output is not None:
        typer.echo(f"wrote {output}")
    else:
        typer.echo(svg, nl=False)


def register(app: typer.Typer) -> None:
    """Add ``graph`` to the ``arch`` group (owned by ``arch_cmd``)."""
    from api.commands.arch_cmd import arch_app

    arch_app.command("graph")(graph)

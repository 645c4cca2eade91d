"""``convnas arch summary`` and ``convnas presets``: what a frozen architecture costs.

The ``arch`` group is a module-level ``arch_app`` so that other command modules (``arch graph``)
can add their commands to it.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from api.commands.common import print_json, user_errors
from api.commands.output import console as make_console
from space.arch import Arch
from space.cost import ArchCost, cost, human_bytes, human_count
from space.errors import ConvnasError
from space.presets import resolve_arch

arch_app = typer.Typer(
    name="arch",
    help="Inspect frozen architectures (arch files or preset names).",
    no_args_is_help=True,
)

ArchArg = Annotated[
    str, typer.Argument(help="An arch file (YAML/JSON, exported files too) or a preset name.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _time_text(arch: Arch) -> str:
    t = arch.time
    readout = t.readout.kind
    last = t.image_steps - 1
    image = f"image on steps 0-{last}" if last > 0 else "image on step 0"
    return f"T={t.steps}, {image}, readout {readout}, unroll {t.unroll}"


def _check_torch(arch: Arch, analytic: int) -> dict[str, Any]:
    """Build the torch model and compare ``sum(p.numel())`` with the analytic count."""
    try:
        from space.nn import build_model
    except ImportError as exc:
        raise ConvnasError(
            f"--check needs torch and space.nn, which could not be imported ({exc})"
        ) from None
    model = build_model(arch)
    torch_params = sum(p.numel() for p in model.parameters())
    return {
        "torch_params": torch_params,
        "analytic_params": analytic,
        "ok": torch_params == analytic,
    }


def _layer_table(result: ArchCost) -> Table:
    table = Table(title="layers", title_justify="left")
    for col in ("layer", "in", "ch", "out", "size", "pooled", "cell", "feedback from", "first"):
        table.add_column(
            col, justify="left" if col in ("layer", "cell", "feedback from") else "right"
        )
    table.add_column("params", justify="right")
    table.add_column("MACs/step", justify="right")
    for layer in result.layers:
        table.add_row(
            layer.name,
            str(layer.in_channels),
            str(layer.channels),
            str(layer.out_channels),
            f"{layer.size}x{layer.size}",
            f"{layer.out_size}x{layer.out_size}",
            layer.cell,
            ", ".join(layer.feedback_from) or "-",
            str(layer.first_signal),
            f"{layer.params:,}",
            human_count(layer.macs_per_step),
        )
    ro = result.readout
    table.add_row(
        "readout",
        str(ro.in_channels),
        str(ro.classes),
        str(ro.classes),
        "",
        "",
        ro.kind,
        "-",
        str(ro.first_signal),
        f"{ro.params:,}",
        human_count(ro.macs_per_step),
    )
    return table


def _print_summary(label: str, arch: Arch, result: ArchCost) -> None:
    console = make_console()
    console.print(f"[bold]{label}[/bold]  arch_hash {result.arch_hash}")
    description = arch.meta.get("description")
    if description:
        console.print(str(description))
    console.print(
        f"input {arch.input.size}x{arch.input.size}x{arch.input.channels}, "
        f"{arch.classes} classes, head {arch.head.kind}"
    )
    console.print(
        f"time: {_time_text(arch)}; readout first sees the image at step "
        f"{result.readout_first_step}"
    )
    # "FLOPs" as the papers and the spec (max_flops) say it, but counted as multiply-adds.
    console.print(f"params:       {human_count(result.params):>9}  ({result.params:,})")
    console.print(
        f"FLOPs (MACs): {human_count(result.flops):>9}  ({result.flops:,} multiply-adds over "
        f"{result.steps} step{'s' if result.steps != 1 else ''}; {result.macs_per_step:,} per step)"
    )
    console.print(
        f"activations:  {human_bytes(result.activation_bytes):>9}  "
        f"({result.activation_bytes:,} bytes for BPTT of one image, float32)"
    )
    console.print(
        f"cells: {result.cell_layers} of {len(result.layers)} conv layers (plus the readout); "
        f"feedback edges: {result.feedback_edges}"
    )
    console.print(_layer_table(result))


@arch_app.command("summary")
def summary(
    arch_ref: ArchArg,
    as_json: JsonOpt = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Build the torch model and confirm its parameter count (exit 1 if not)."
        ),
    ] = False,
) -> None:
    """Params, FLOPs, activation memory and a per-layer table of an architecture."""
    with user_errors(as_json):
        arch = resolve_arch(arch_ref)
        result = cost(arch)
        checked = _check_torch(arch, result.params) if check else None
    if as_json:
        data: dict[str, Any] = {
            "arch": arch_ref,
            **result.to_dict(),
            "time": arch.time.model_dump(),
        }
        if checked is not None:
            data["check"] = checked
        print_json(data)
    else:
        _print_summary(arch_ref, arch, result)
        if checked is not None:
            verdict = "OK" if checked["ok"] else "MISMATCH"
            typer.echo(
                f"check: torch model has {checked['torch_params']:,} parameters, analytic "
                f"{checked['analytic_params']:,}: {verdict}"
            )
    if checked is not None and not checked["ok"]:
        raise typer.Exit(1)


def presets(as_json: JsonOpt = False) -> None:
    """The shipped presets: the released reference models and feedforward baselines."""
    with user_errors(as_json):
        from search import service as svc

        rows = svc.presets()
    if as_json:
        print_json(rows)
        return
    table = Table(title="presets", title_justify="left")
    # conv layers: the readout is not counted (the papers' "11-layer" backbones count it).
    columns = ("name", "params", "FLOPs (MACs)", "conv layers", "cells", "feedback", "T")
    for col in (*columns, "description"):
        table.add_column(col, justify="left" if col in ("name", "description") else "right")
    for row in rows:
        table.add_row(
            row.name,
            human_count(row.params),
            human_count(row.flops),
            str(row.layers),
            str(row.cells),
            str(row.feedback_edges),
            str(row.steps),
            row.description,
        )
    make_console().print(table)


def register(app: typer.Typer) -> None:
    """Add the ``arch`` group and the ``presets`` command to the top-level app."""
    app.add_typer(arch_app, name="arch")
    app.command("presets")(presets)

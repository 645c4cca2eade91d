"""``convnas leaderboard``, ``convnas trial`` and ``convnas export``: reading a search's trials.

Each command asks :mod:`search.service` on a local database, or a server through its client
(``--server``; the same calls, models and errors), and formats what it returns; the service
names request fields (``limit``, ``sort``), which the errors here show as the flags the user typed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from api.commands.common import (
    DbOpt,
    JsonOpt,
    SearchArg,
    ServerOpt,
    print_json,
    search_backend,
    user_errors,
)
from api.commands.output import cell, console, fmt
from space.cost import human_bytes
from space.trial_fields import SORTABLE, field

if TYPE_CHECKING:  # the service (SQLAlchemy) is imported by the commands that use it
    from search.service import TrialOut

BOARD_FLAGS = {
    "sort": "--sort",
    "status": "--status",
    "limit": "--top",
    "offset": "--offset",
    "params_max": "--params-max",
    "flops_max": "--flops-max",
    "cell_kind": "--cell-kind",
    "param": "--param",
}


def leaderboard_cmd(
    search: SearchArg,
    db: DbOpt = None,
    server: ServerOpt = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            help=f"{', '.join(SORTABLE)} (+/- prefix: ascending/descending). Default: the "
            "search's first objective.",
        ),
    ] = None,
    top: Annotated[int | None, typer.Option("--top", help="Show the best K trials.")] = None,
    offset: Annotated[int, typer.Option("--offset", help="Skip the best N first.")] = 0,
    status: Annotated[
        str | None,
        typer.Option("--status", help="completed (default), a comma list, or all."),
    ] = None,
    pareto: Annotated[
        bool, typer.Option("--pareto", help="Only Pareto-optimal trials (one objective: the best).")
    ] = False,
    params_max: Annotated[
        int | None, typer.Option("--params-max", help="Only trials with at most N parameters.")
    ] = None,
    flops_max: Annotated[
        int | None, typer.Option("--flops-max", help="Only trials with at most N FLOPs.")
    ] = None,
    cell_kind: Annotated[
        str | None,
        typer.Option("--cell-kind", help="Only archs using this cell kind (none: feedforward)."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="Only trials whose sampled value matches, repeatable: LABEL:LOW..HIGH (numbers, "
            "inclusive, either end optional) or LABEL=V1,V2 (labels: convnas space describe).",
        ),
    ] = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
) -> None:
    """The trials of a search, best first."""
    with user_errors(as_json, BOARD_FLAGS):
        from search import service as svc
        from space.errors import ConvnasError

        if as_json and as_csv:
            raise ConvnasError("choose one of --json and --csv")
        query = svc.TrialQuery(
            sort=sort,
            status=status,
            pareto=pareto,
            limit=top,
            offset=offset,
            params_max=params_max,
            flops_max=flops_max,
            cell_kind=cell_kind,
            param=tuple(param or ()),
        )
        with search_backend(db, server) as api:
            page = api.trials(search, query)
    title = f"search {page.search_id} ({page.search_name}), by {page.sort.lstrip('+-')}"
    if as_json:
        print_json(page)
    elif as_csv:
        from search.service import csv_text

        sys.stdout.write(csv_text(page.items))
    elif not page.items:
        typer.echo(f"{title}: no trials match (try --status all)")
    else:
        shown = f"{len(page.items)} of {page.total}" if page.total > len(page.items) else ""
        console().print(trials_table(page.items, title + (f" ({shown})" if shown else "")))


def trials_table(rows: Sequence[TrialOut], title: str) -> Table:
    """The leaderboard table: its columns, the node each trial ran on, and the neural fit and
    the measured peak memory against the estimate when some trial of the page has them."""
    from search.service import shown_columns

    columns = shown_columns(rows)
    table = Table(title=title, title_justify="left")
    for col in columns:
        left = col in ("status", "arch_hash", "node")
        # A node's name is read whole (its IP alone is the same for every node of a machine).
        table.add_column(
            field(col).heading or col,
            justify="left" if left else "right",
            overflow="fold" if col == "node" else "ellipsis",
        )
    for row in rows:
        data = row.model_dump(mode="json")
        table.add_row(*(cell(c, data[c]) for c in columns))
    return table


def trial_cmd(
    search: SearchArg,
    number: Annotated[int, typer.Argument(help="The trial's number.")],
    db: DbOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One trial: outcome, cost, sampled values, per-epoch metrics and accuracy per time step."""
    with user_errors(as_json), search_backend(db, server) as api:
        found = api.trial(search, number)
    if as_json:
        print_json(found)
        return
    rank = f", rank {found.rank}" if found.rank else ""
    typer.echo(
        f"trial {found.trial} of search {found.search_id}: {found.status}{rank}; val_acc "
        f"{fmt(found.val_acc)}, params {cell('params', found.params)}, flops "
        f"{cell('flops', found.flops)}, memory {cell('memory', found.memory)}"
    )
    ran = _where_it_ran(found)
    if ran:
        typer.echo(ran)
    if found.error:
        typer.echo(f"error: {found.error}")
    if len(found.attempts) > 1:  # retried: how each run went
        for a in found.attempts:
            why = f": {a.error}" if a.error else ""
            typer.echo(
                f"attempt {a.attempt} on {a.node or '-'}: {a.outcome or 'running'} "
                f"after {a.epochs} epochs{why}"
            )
    for label, value in sorted(found.sampled.items()):
        typer.echo(f"  {label} = {value}")
    table = Table(title="epochs", title_justify="left")
    for col in ("epoch", "train_loss", "val_loss", "val_acc", "img/s", "val_acc per step"):
        table.add_column(col, justify="right")
    for e in found.history:
        steps = " ".join(fmt(a, 2) for a in e.val_acc_per_step or [])
        table.add_row(
            str(e.epoch),
            fmt(e.train_loss),
            fmt(e.val_loss),
            fmt(e.val_acc),
            fmt(e.images_per_sec, 0),
            steps,
        )
    console().print(table)


def export_cmd(
    search: SearchArg,
    db: DbOpt = None,
    server: ServerOpt = None,
    trial: Annotated[
        int | None, typer.Option("--trial", help="Trial number (default: the best).")
    ] = None,
    fmt_name: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to FILE (default: stdout).")
    ] = None,
    weights: Annotated[
        bool,
        typer.Option(
            "--weights",
            help="Also copy (from a server: download) the trial's trained weights (needs -o).",
        ),
    ] = False,
) -> None:
    """A trial's architecture with provenance, loadable by `convnas arch summary`/`train`."""
    flags = {"format": "--format", "output": "-o/--output", "weights": "--weights"}
    with user_errors(flags=flags), search_backend(db, server) as api:
        done = api.export(search, number=trial, fmt=fmt_name, output=output, weights=weights)
    if output is None:
        sys.stdout.write(done.text)
        return
    prov = done.document["provenance"]
    extra = f" and {done.weights}" if done.weights else ""
    typer.echo(
        f"wrote {output}{extra}: trial {done.trial} of search {done.search_id} "
        f"(val_acc {fmt(prov['metrics']['val_acc'])})"
    )
    if done.weights and done.document.get("preprocessing"):
        typer.echo(
            "inputs for these weights: the file's `preprocessing` block "
            "(workers.data.preprocess(images, doc['preprocessing']) applies it)"
        )


def _where_it_ran(found: TrialOut) -> str:
    """``node 10.0.0.2/ab12cd34; gpu share 0.25; peak memory 1.2 MiB (estimate 2 MiB); neural
    fit 0.4100``: the parts the trial has."""
    parts = [f"node {found.node}"] if found.node else []
    if found.gpu_share:
        parts.append(f"gpu share {fmt(found.gpu_share, 2)}")
    if found.peak_memory is not None or found.memory_estimate is not None:
        peak = "-" if found.peak_memory is None else human_bytes(found.peak_memory)
        estimate = "-" if found.memory_estimate is None else human_bytes(found.memory_estimate)
        reserved = (
            "" if found.peak_reserved is None else f", reserved {human_bytes(found.peak_reserved)}"
        )
        parts.append(f"peak memory {peak}{reserved} (estimate {estimate})")
    if found.neural_fit is not None:
        parts.append(f"neural fit {fmt(found.neural_fit)}")
    return "; ".join(parts)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("leaderboard")(leaderboard_cmd)
    app.command("trial")(trial_cmd)
    app.command("export")(export_cmd)

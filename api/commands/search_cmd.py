"""``convnas search run|resume|cancel``, ``convnas searches``, ``leaderboard`` and ``export``.

Every command takes ``--db URL`` (else ``CONVNAS_DATABASE_URL``, else ``./convnas.db``). Ray and
Optuna are imported only by ``search run``/``resume``; the record commands stay light.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.commands.common import print_json, user_errors

search_app = typer.Typer(
    name="search", help="Run, resume and cancel architecture searches.", no_args_is_help=True
)

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $CONVNAS_DATABASE_URL or ./convnas.db)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
SearchArg = Annotated[str, typer.Argument(help="A search id, or a search name (the latest).")]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address", help="An existing Ray cluster (default: $CONVNAS_RAY_ADDRESS or local)."
    ),
]
RunsOpt = Annotated[
    Path | None,
    typer.Option(
        "--runs-dir", help="Ray Tune's run files and checkpoints (default ./convnas_runs)."
    ),
]


def _console() -> Console:
    console = Console(highlight=False)
    return console if console.is_terminal else Console(width=160, highlight=False)


def _engine(db: str | None, *, must_exist: bool = False) -> Any:
    """The engine for ``--db`` (else the environment, else ./convnas.db).

    ``must_exist`` for the commands that only read or continue a search: they must not create an
    empty SQLite file where the user mistyped a path. Errors name where the URL came from.
    """
    import os

    from search.db import DatabaseError, get_engine
    from space.errors import ConvnasError

    try:
        return get_engine(db, must_exist=must_exist)
    except DatabaseError as exc:
        origin = (
            "--db"
            if db
            else "CONVNAS_DATABASE_URL"
            if os.environ.get("CONVNAS_DATABASE_URL")
            else "database"
        )
        raise ConvnasError(f"{origin}: {exc}") from None


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


# --------------------------------------------------------------------------------------------
# search run / resume / cancel
# --------------------------------------------------------------------------------------------


def _report_line(progress: Any) -> None:
    typer.echo(progress.line(), err=True)


def _finish(outcome: Any, db: str | None, as_json: bool) -> None:
    from search import repository as repo
    from search.db import session_scope
    from search.export import objectives_of

    with session_scope(_engine(db)) as s:
        search = repo.resolve_search(s, outcome.search_id)
        objectives = objectives_of(search)
        first = objectives[0]
        sort = ("-" if first.goal == "max" else "+") + first.metric
        top = repo.leaderboard(s, search.id, sort=sort, top=5)
        rows = [_trial_row(t, rank) for rank, t in enumerate(top, start=1)]
    if as_json:
        print_json({"search": _outcome_dict(outcome), "top": rows})
    else:
        typer.echo(
            f"search {outcome.search_id} {outcome.status}: {outcome.summary()} "
            f"in {outcome.elapsed:.0f}s" + (f" ({outcome.note})" if outcome.note else "")
        )
        _console().print(_board_table(rows, f"top {len(rows)}"))
        typer.echo(f"export the best: convnas export {outcome.search_id} -o best.yaml")
    if outcome.status not in ("succeeded",):
        raise typer.Exit(2 if outcome.status == "cancelled" else 1)


def _outcome_dict(outcome: Any) -> dict[str, Any]:
    return {
        "id": outcome.search_id,
        "status": outcome.status,
        "finished": outcome.finished,
        "requested": outcome.requested,
        "not_counted": outcome.not_counted,
        "note": outcome.note,
        "elapsed": round(outcome.elapsed, 3),
    }


@search_app.command("run")
def run_cmd(
    file: Annotated[Path, typer.Argument(help="A search spec (YAML or JSON).")],
    db: DbOpt = None,
    address: AddressOpt = None,
    runs_dir: RunsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate a spec, record a new search and drive it to the end with live progress."""
    with user_errors(as_json):
        from search.driver import create_search, run_search
        from space.spec import load_spec

        spec = load_spec(file)
        engine = _engine(db)
        search_id = create_search(engine, spec, ray_address=address)
        typer.echo(
            f"search {search_id} ({spec.name}): {spec.search.trials} trials, "
            f"{spec.search.concurrency} at a time, sampler {spec.search.sampler}, "
            f"scheduler {spec.scheduler}; resume with `convnas search resume {search_id}`",
            err=True,
        )
        outcome = run_search(
            search_id, db_url=db, ray_address=address, reporter=_report_line, runs_dir=runs_dir
        )
        _finish(outcome, db, as_json)


@search_app.command("resume")
def resume_cmd(
    search: SearchArg,
    db: DbOpt = None,
    address: AddressOpt = None,
    runs_dir: RunsOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Resume even if another driver seems alive.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Continue a search whose driver stopped (Ctrl+C, crash, kill -9)."""
    with user_errors(as_json):
        from search.driver import resume_search

        _engine(db, must_exist=True)  # a clear error before any Ray start
        outcome = resume_search(
            search,
            db_url=db,
            ray_address=address,
            reporter=_report_line,
            runs_dir=runs_dir,
            force=force,
        )
        _finish(outcome, db, as_json)


@search_app.command("cancel")
def cancel_cmd(search: SearchArg, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Stop a search: its driver ends the running trials and marks it cancelled."""
    with user_errors(as_json):
        from search import repository as repo
        from search.db import session_scope

        with session_scope(_engine(db, must_exist=True)) as s:
            found = repo.resolve_search(s, search)
            message = repo.request_cancel(s, found)
            state = {"id": found.id, "status": found.status, "cancel_requested": True}
        if as_json:
            print_json({**state, "message": message})
        else:
            typer.echo(message)


# --------------------------------------------------------------------------------------------
# searches
# --------------------------------------------------------------------------------------------


def _summary_dict(summary: Any) -> dict[str, Any]:
    from search.driver import driver_is_alive

    search = summary.search
    status = search.status
    if status == "running" and not driver_is_alive(search):
        status = "running (driver lost: resume it)"
    return {
        "id": search.id,
        "name": search.name,
        "status": status,
        "requested": search.requested_trials,
        "finished": summary.finished,
        "running": summary.running,
        "failed": summary.failed,
        "counts": summary.counts,
        # val_acc everywhere = a trial's best validation accuracy over its epochs (here: the
        # best completed trial's); last_val_acc = its final epoch's.
        "val_acc": summary.best_val_acc,
        "created_at": search.created_at.isoformat(timespec="seconds"),
        "finished_at": search.finished_at.isoformat(timespec="seconds")
        if search.finished_at
        else None,
        "note": search.error,
    }


def searches_cmd(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List searches, newest first, with their trial counts and best accuracy."""
    with user_errors(as_json):
        from search import repository as repo
        from search.db import session_scope

        with session_scope(_engine(db, must_exist=True)) as s:
            rows = [_summary_dict(x) for x in repo.list_searches(s)]
        if as_json:
            print_json(rows)
            return
        if not rows:
            typer.echo("no searches yet: start one with `convnas search run SPEC.yaml`")
            return
        table = Table(title="searches", title_justify="left")
        for col in (
            "id",
            "name",
            "status",
            "trials",
            "running",
            "failed",
            "val_acc",
            "created",
        ):
            table.add_column(col, justify="right" if col not in ("name", "status") else "left")
        for r in rows:
            table.add_row(
                str(r["id"]),
                r["name"],
                r["status"],
                f"{r['finished']}/{r['requested']}",
                str(r["running"]),
                str(r["failed"]),
                _fmt(r["val_acc"]),
                r["created_at"].replace("T", " ")[:19],
            )
        _console().print(table)


# --------------------------------------------------------------------------------------------
# leaderboard
# --------------------------------------------------------------------------------------------

BOARD_COLUMNS = (
    "rank", "trial", "status", "val_acc", "last_val_acc", "params", "flops", "memory",
    "epochs", "seconds", "pareto", "arch_hash",
)  # fmt: skip
# The CSV adds these after the table's columns (the JSON has the same keys in the same order,
# plus the sampled parameters).
CSV_EXTRA = ("config_hash", "duplicate_of", "node", "error")
# Printed in the table as 12.3k / 4.56M / 1.2 MiB; exact in --json and --csv.
HUMAN = {"params": "count", "flops": "count", "memory": "bytes"}


def _trial_row(trial: Any, rank: int) -> dict[str, Any]:
    return {
        "rank": rank,
        "trial": trial.number,
        "status": trial.status,
        "val_acc": trial.best_val_acc,
        "last_val_acc": trial.last_val_acc,
        "params": trial.n_params,
        "flops": trial.flops,
        "memory": trial.activation_memory,
        "epochs": trial.epochs,
        "seconds": trial.train_seconds,
        "pareto": trial.pareto,
        "arch_hash": trial.arch_hash,
        "config_hash": trial.config_hash,
        "duplicate_of": trial.duplicate_of,
        "node": trial.node,
        "error": trial.error,
        "sampled": trial.params,
    }


def _board_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in BOARD_COLUMNS:
        table.add_column(col, justify="left" if col in ("status", "arch_hash") else "right")
    for r in rows:
        table.add_row(*(_cell(c, r[c]) for c in BOARD_COLUMNS))
    return table


def _cell(column: str, value: Any) -> str:
    if column == "pareto":
        return "*" if value else ""
    if column in HUMAN and isinstance(value, int):
        return human_bytes(value) if HUMAN[column] == "bytes" else human_count(value)
    return _fmt(value, 1 if column == "seconds" else 4)


def human_count(n: int) -> str:
    """12, 12.3k, 4.56M, 7.89G (three significant digits)."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{suffix}"
    return str(n)


def human_bytes(n: int) -> str:
    """512 B, 1.5 KiB, 3.2 MiB, 1.1 GiB."""
    for scale, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {suffix}"
    return f"{n} B"


def leaderboard_cmd(
    search: SearchArg,
    db: DbOpt = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            help="val_acc, params, flops, memory, seconds, epochs, number (+/- prefix: "
            "ascending/descending). Default: the search's first objective.",
        ),
    ] = None,
    top: Annotated[int | None, typer.Option("--top", help="Show the best K trials.")] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="completed (default), a comma list, or all."),
    ] = None,
    pareto: Annotated[
        bool, typer.Option("--pareto", help="Only Pareto-optimal trials (one objective: the best).")
    ] = False,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
) -> None:
    """The trials of a search, best first."""
    with user_errors(as_json):
        if as_json and as_csv:
            from space.errors import ConvnasError

            raise ConvnasError("choose one of --json and --csv")
        from search import repository as repo
        from search.db import session_scope
        from search.export import objectives_of

        with session_scope(_engine(db, must_exist=True)) as s:
            found = repo.resolve_search(s, search)
            if sort is None:
                first = objectives_of(found)[0]
                sort = ("-" if first.goal == "max" else "+") + first.metric
            trials = repo.leaderboard(s, found.id, sort=sort, top=top, status=status, pareto=pareto)
            rows = [_trial_row(t, rank) for rank, t in enumerate(trials, start=1)]
            title = f"search {found.id} ({found.name}), by {sort.lstrip('+-')}"
        if as_json:
            print_json(rows)
        elif as_csv:
            _print_csv(rows)
        elif not rows:
            typer.echo(f"{title}: no trials match (try --status all)")
        else:
            _console().print(_board_table(rows, title))


def _print_csv(rows: list[dict[str, Any]]) -> None:
    columns = [*BOARD_COLUMNS, *CSV_EXTRA]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    sys.stdout.write(buffer.getvalue())


# --------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------


def export_cmd(
    search: SearchArg,
    db: DbOpt = None,
    trial: Annotated[
        int | None, typer.Option("--trial", help="Trial number (default: the best).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to FILE (default: stdout).")
    ] = None,
    weights: Annotated[
        bool, typer.Option("--weights", help="Also copy the trial's trained weights (needs -o).")
    ] = False,
) -> None:
    """A trial's architecture with provenance, loadable by `convnas arch summary`/`train`."""
    with user_errors():
        from search.db import session_scope
        from search.export import export_trial

        with session_scope(_engine(db, must_exist=True)) as s:
            exported = export_trial(
                s,
                search,
                trial_number=trial,
                fmt=fmt,  # type: ignore[arg-type]  # checked by export_trial
                output=output,
                weights=weights,
            )
        if output is None:
            sys.stdout.write(exported.text)
        else:
            prov = exported.document["provenance"]
            extra = f" and {exported.weights}" if exported.weights else ""
            typer.echo(
                f"wrote {output}{extra}: trial {prov['trial']['number']} of search "
                f"{prov['search']['id']} (val_acc {_fmt(prov['metrics']['val_acc'])})"
            )
            if exported.weights and exported.document.get("preprocessing"):
                typer.echo(
                    "inputs for these weights: the file's `preprocessing` block "
                    "(workers.data.preprocess(images, doc['preprocessing']) applies it)"
                )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.add_typer(search_app)
    app.command("searches")(searches_cmd)
    app.command("leaderboard")(leaderboard_cmd)
    app.command("export")(export_cmd)

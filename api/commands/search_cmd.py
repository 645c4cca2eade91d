"""``convnas search run|resume|cancel|delete`` and ``convnas searches``.

Every command takes ``--db URL`` (else ``CONVNAS_DATABASE_URL``, else ``./convnas.db``) and calls
:mod:`search.service`; ``run`` and ``resume`` then drive the search in this process (the runner's
job), which is where Ray and Optuna are imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.commands.common import print_json, user_errors
from api.commands.output import board_table, console, fmt
from space.status import SearchStatus

search_app = typer.Typer(
    name="search",
    help="Run, resume, cancel and delete architecture searches.",
    no_args_is_help=True,
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


def engine_for(db: str | None, *, must_exist: bool = False) -> Any:
    """The engine for ``--db`` (else the environment, else ./convnas.db).

    ``must_exist`` for the commands that only read or continue a search: they must not create an
    empty SQLite file where the user mistyped a path. Errors name where the URL came from.
    """
    import os

    from search.db import DatabaseError, NoDatabase, get_engine
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
        hint = (
            "; start a search with `convnas search run SPEC`" if isinstance(exc, NoDatabase) else ""
        )
        raise ConvnasError(f"{origin}: {exc}{hint}") from None


# --------------------------------------------------------------------------------------------
# search run / resume: record through the service, then drive here
# --------------------------------------------------------------------------------------------


def _report_line(progress: Any) -> None:
    typer.echo(progress.line(), err=True)


def _finish(engine: Any, outcome: Any, as_json: bool) -> None:
    from search import service as svc

    search = svc.get_search(engine, outcome.search_id)
    top = svc.trials(engine, outcome.search_id, svc.TrialQuery(limit=5)).items
    if as_json:
        print_json({"search": search, "outcome": _outcome_dict(outcome), "top": top})
    else:
        typer.echo(
            f"search {outcome.search_id} {outcome.status}: {outcome.summary()} "
            f"in {outcome.elapsed:.0f}s" + (f" ({outcome.note})" if outcome.note else "")
        )
        console().print(board_table(top, f"top {len(top)}"))
        if top:
            typer.echo(f"export the best: convnas export {outcome.search_id} -o best.yaml")
    if outcome.status != SearchStatus.SUCCEEDED:
        raise typer.Exit(2 if outcome.status == SearchStatus.CANCELLED else 1)


def _outcome_dict(outcome: Any) -> dict[str, Any]:
    return {
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
        from search import runner

        engine = engine_for(db)
        outcome = runner.start(
            engine,
            file,
            ray_address=address,
            runs_dir=runs_dir,
            reporter=_report_line,
            announce=_announce,
        )
        _finish(engine, outcome, as_json)


def _announce(search: Any, spec: Any) -> None:
    typer.echo(
        f"search {search.id} ({search.name}): {search.requested} trials, "
        f"{spec.search.concurrency} at a time, sampler {spec.search.sampler}, "
        f"scheduler {spec.scheduler}; resume with `convnas search resume {search.id}`",
        err=True,
    )


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
        from search import runner
        from search import service as svc

        engine = engine_for(db, must_exist=True)
        try:
            outcome = runner.resume(
                engine,
                search,
                force=force,
                ray_address=address,
                runs_dir=runs_dir,
                reporter=_report_line,
            )
        except svc.Conflict as exc:
            raise svc.Conflict(str(exc).replace("resume with force", "pass --force")) from None
        _finish(engine, outcome, as_json)


@search_app.command("cancel")
def cancel_cmd(search: SearchArg, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Stop a search: its driver ends the running trials and marks it cancelled."""
    with user_errors(as_json):
        from search import service as svc

        done = svc.cancel(engine_for(db, must_exist=True), search)
    _print_action(done, as_json)


@search_app.command("delete")
def delete_cmd(
    search: SearchArg,
    db: DbOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete a search with its trials, metrics and Optuna study (not while it runs)."""
    with user_errors(as_json):
        from search import service as svc

        engine = engine_for(db, must_exist=True)
        found = svc.get_search(engine, search)
        if not yes and not typer.confirm(
            f"delete search {found.id} ({found.name}, {found.finished} trials)?"
        ):
            raise typer.Exit(1)
        done = svc.delete(engine, found.id)
    _print_action(done, as_json)


def _print_action(done: Any, as_json: bool) -> None:
    if as_json:
        print_json(done)
    else:
        typer.echo(done.message)


# --------------------------------------------------------------------------------------------
# searches
# --------------------------------------------------------------------------------------------

_SEARCH_COLUMNS = ("id", "name", "status", "trials", "running", "failed", "val_acc", "created")


def searches_cmd(
    db: DbOpt = None,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Only searches of this name.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most N searches.")] = None,
    offset: Annotated[int, typer.Option("--offset", help="Skip the newest N.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List searches, newest first, with their trial counts and best accuracy."""
    flags = {"status": "--status", "limit": "--limit", "offset": "--offset"}
    with user_errors(as_json, flags):
        from search import service as svc

        page = svc.list_searches(
            engine_for(db, must_exist=True), status=status, name=name, limit=limit, offset=offset
        )
    if as_json:
        print_json(page)
        return
    if not page.items:
        typer.echo("no searches yet: start one with `convnas search run SPEC.yaml`")
        return
    table = Table(title=f"searches ({page.total})", title_justify="left")
    for col in _SEARCH_COLUMNS:
        table.add_column(col, justify="left" if col in ("name", "status") else "right")
    for s in page.items:
        shown = f"{s.status} (driver lost: resume it)" if s.driver_lost else str(s.status)
        table.add_row(
            str(s.id),
            s.name,
            shown,
            f"{s.finished}/{s.requested}",
            str(s.running),
            str(s.failed),
            fmt(s.val_acc),
            s.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    console().print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.add_typer(search_app)
    app.command("searches")(searches_cmd)

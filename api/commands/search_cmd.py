"""``convnas search run|submit|resume|cancel|delete`` and ``convnas searches``.

Every command takes ``--db URL`` (else ``CONVNAS_DATABASE_URL``, else ``./convnas.db``) or
``--server URL`` (else ``CONVNAS_SERVER``) and calls :mod:`search.service` or its HTTP client
(:mod:`api.client`: the same calls, models and errors), then formats the result one way.
``run``, and ``resume`` on a local database, drive the search in this process (the runner's
job), which is where Ray and Optuna are imported; ``submit``, and ``resume`` on a server, queue
it for a runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.commands.board_cmd import trials_table
from api.commands.common import (
    AddressOpt,
    DbOpt,
    JsonOpt,
    RunsOpt,
    SearchArg,
    ServerOpt,
    engine_for,
    print_json,
    search_backend,
    server_for,
    start_logs,
    user_errors,
)
from api.commands.output import console, fmt
from space.errors import ConvnasError
from space.status import SearchStatus

search_app = typer.Typer(
    name="search",
    help="Run, submit, resume, cancel and delete architecture searches.",
    no_args_is_help=True,
)

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
        console().print(trials_table(top, f"top {len(top)}"))
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
    server: Annotated[
        str | None, typer.Option("--server", help="Not here: use `convnas search submit`.")
    ] = None,
) -> None:
    """Validate a spec, record a new search and drive it to the end with live progress."""
    with user_errors(as_json):
        from search.run import runner

        if server:
            raise ConvnasError(
                "search run drives the search in this process; to have a server's runner run "
                f"it, queue it with `convnas search submit {file} --server {server}`"
            )

        engine = engine_for(db)
        start_logs()
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
    server: ServerOpt = None,
    address: AddressOpt = None,
    runs_dir: RunsOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Resume even if another driver seems alive.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Continue a search whose driver stopped (Ctrl+C, crash, kill -9).

    On a local database it is driven here; on a server it is queued for the server's runner.
    """
    with user_errors(as_json):
        from search import service as svc

        try:
            if server_for(db, server) is not None:
                if address or runs_dir:
                    raise ConvnasError("--address and --runs-dir are for a local resume")
                with search_backend(db, server) as api:
                    done = api.resume(search, force=force)
            else:
                _resume_here(search, db, address, runs_dir, force, as_json)
                return
        except svc.Conflict as exc:
            raise svc.Conflict(str(exc).replace("resume with force", "pass --force")) from None
    _print_action(done, as_json)


def _resume_here(
    search: str,
    db: str | None,
    address: str | None,
    runs_dir: str | None,
    force: bool,
    as_json: bool,
) -> None:
    from search.run import runner

    engine = engine_for(db, must_exist=True)
    start_logs()
    outcome = runner.resume(
        engine,
        search,
        force=force,
        ray_address=address,
        runs_dir=runs_dir,
        reporter=_report_line,
    )
    _finish(engine, outcome, as_json)


@search_app.command("submit")
def submit_cmd(
    file: Annotated[Path, typer.Argument(help="A search spec (YAML or JSON).")],
    db: DbOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate a spec and queue it as a new search, for a runner to run.

    The runner is `convnas runner`, or the one `convnas serve` starts, on the same database.
    """
    with user_errors(as_json), search_backend(db, server, must_exist=False) as api:
        found = api.submit(file)
    if as_json:
        print_json(found)
        return
    typer.echo(
        f"search {found.id} ({found.name}) queued: {found.requested} trials for a runner "
        f"(`convnas runner` or `convnas serve`); watch it with `convnas searches`, its trials "
        f"with `convnas leaderboard {found.id}`"
    )


@search_app.command("cancel")
def cancel_cmd(
    search: SearchArg, db: DbOpt = None, server: ServerOpt = None, as_json: JsonOpt = False
) -> None:
    """Stop a search: its driver ends the running trials and marks it cancelled."""
    with user_errors(as_json), search_backend(db, server) as api:
        done = api.cancel(search)
    _print_action(done, as_json)


@search_app.command("delete")
def delete_cmd(
    search: SearchArg,
    db: DbOpt = None,
    server: ServerOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete a search with its trials, metrics and Optuna study (not while it runs)."""
    with user_errors(as_json), search_backend(db, server) as api:
        found = api.get_search(search)
        if not yes and not typer.confirm(
            f"delete search {found.id} ({found.name}, {found.finished} trials)?"
        ):
            raise typer.Exit(1)
        done = api.delete(found.id)
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
    server: ServerOpt = None,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Only searches of this name.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most N searches.")] = None,
    offset: Annotated[int, typer.Option("--offset", help="Skip the newest N.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List searches, newest first, with their trial counts and best accuracy."""
    flags = {"status": "--status", "limit": "--limit", "offset": "--offset"}
    with user_errors(as_json, flags), search_backend(db, server) as api:
        page = api.list_searches(status=status, name=name, limit=limit, offset=offset)
    if as_json:
        print_json(page)
        return
    if not page.items:
        typer.echo(
            "no searches yet: start one with `convnas search run SPEC.yaml` (or queue it for a "
            "runner with `convnas search submit SPEC.yaml`)"
        )
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

"""``convnas note``: read, set or clear the markdown note on a search or on a trial.

On a local database (``--db``) or a server (``--server``), like the other search commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.commands.common import (
    DbOpt,
    JsonOpt,
    SearchArg,
    ServerOpt,
    print_json,
    search_backend,
    user_errors,
)
from space.errors import ConvnasError

if TYPE_CHECKING:  # the service (SQLAlchemy) is imported by the commands that use it
    from search.service import SearchOut, Service, TrialDetail

# The service names the request's field; the user typed one of these flags.
NOTE_FLAGS = {"note": "--set/--file", "number": "--trial"}


def note_cmd(
    search: SearchArg,
    trial: Annotated[
        int | None, typer.Option("--trial", help="The trial's note (default: the search's).")
    ] = None,
    text: Annotated[
        str | None, typer.Option("--set", help="Set the note to TEXT (markdown).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Set the note to the file's text (markdown; - for stdin)."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the note.")] = False,
    db: DbOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a search's note (or a trial's, with --trial), or set or clear it.

    Without --set, --file or --clear it prints the note as it was written; --json prints the
    search's (or trial's) document, with its note.
    """
    with user_errors(as_json, NOTE_FLAGS):
        changing = sum((text is not None, file is not None, clear))
        if changing > 1:
            raise ConvnasError("choose one of --set, --file and --clear")
        new = _read(file) if file is not None else text
        with search_backend(db, server) as api:
            found, what = _note_of(api, search, trial, new, change=bool(changing))
    if as_json:
        print_json(found)
    elif changing:
        done = "cleared" if found.note is None else f"saved ({len(found.note):,} characters)"
        typer.echo(f"{what}: note {done}")
    elif found.note is not None:
        typer.echo(found.note)
    else:
        typer.echo(f"{what} has no note", err=True)


def _read(file: Path) -> str:
    if str(file) == "-":
        return sys.stdin.read()
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConvnasError(f"--file {file}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ConvnasError(f"--file {file}: {exc.strerror or exc}") from None


def _note_of(
    api: Service, search: str, trial: int | None, new: str | None, *, change: bool
) -> tuple[SearchOut | TrialDetail, str]:
    """The search (or trial), its note set to ``new`` first when ``change``; how to name it."""
    if trial is None:
        found = api.set_search_note(search, new) if change else api.get_search(search)
        return found, f"search {found.id}"
    detail = api.set_trial_note(search, trial, new) if change else api.trial(search, trial)
    return detail, f"trial {trial} of search {detail.search_id}"


def register(app: typer.Typer) -> None:
    """Add this module's command to the top-level app."""
    app.command("note")(note_cmd)

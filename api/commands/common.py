"""Shared CLI plumbing: the options several commands take, errors without tracebacks (fields
named as flags), JSON output, and where a command's searches live (a local database, or a
server: :func:`search_backend`).

Every product error is a :class:`~space.errors.ConvnasError`; anything else reaching the top is
a bug or an unhandled case, reported in one line by :func:`report_unexpected` (``--debug`` or
``CONVNAS_DEBUG=1`` shows the traceback instead).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel

from space.errors import ConvnasError, SpecError, capped

if TYPE_CHECKING:  # the service and the client import SQLAlchemy/httpx: only when used
    from search.service import Service
    from space.settings import ClientSettings

DEBUG_ENV = "CONVNAS_DEBUG"
SERVER_ENV = "CONVNAS_SERVER"  # api.client's; repeated so that --help does not import httpx

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
    str | None,
    typer.Option(
        "--runs-dir",
        "--storage",
        help="Ray Tune's storage: run files and checkpoints, a folder or s3://bucket/prefix "
        "(default $CONVNAS_RUNS_DIR or ./convnas_runs). On a cluster, a place every node "
        "reaches (a shared mount or a bucket): export --weights reads the checkpoints there.",
    ),
]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        help=f"A convnas server's URL, instead of a database (default: ${SERVER_ENV}; its token "
        "from $CONVNAS_API_TOKEN).",
    ),
]


def debug_enabled() -> bool:
    return client_settings().debug


def client_settings() -> ClientSettings:
    """The CLI's own settings (the server, its token, tracebacks); imported here, not at the
    top, so that ``--help`` does not load pydantic-settings."""
    from space.settings import ClientSettings, load_settings

    return load_settings(ClientSettings)


def print_json(data: Any) -> None:
    """A model (the public schema), a list of models, or plain data, as indented JSON."""
    sys.stdout.write(json.dumps(_plain(data), indent=2, default=str) + "\n")


def _plain(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [_plain(item) for item in data]
    if isinstance(data, dict):
        return {key: _plain(value) for key, value in data.items()}
    return data


def _as_flags(exc: SpecError, flags: Mapping[str, str]) -> SpecError:
    """The service names request fields (``limit``); the CLI user typed flags (``--top``)."""
    problems = [replace(p, path=flags.get(p.path, p.path)) for p in exc.problems]
    return SpecError(problems)


@contextmanager
def user_errors(as_json: bool = False, flags: Mapping[str, str] | None = None) -> Iterator[None]:
    """Report product errors as readable text (or JSON) and exit 1, never a traceback."""
    try:
        yield
    except SpecError as exc:
        shown = _as_flags(exc, flags or {})
        if as_json:
            print_json({"ok": False, "errors": [p.to_dict() for p in capped(shown.problems)]})
        else:
            typer.echo(shown.render(), err=True)
        raise typer.Exit(1) from None
    except ConvnasError as exc:
        if as_json:
            print_json({"ok": False, "errors": [{"message": str(exc)}]})
        else:
            typer.echo(f"error: {exc}", err=True)
        # 2 for a setting that refuses to start (a usage error), 1 for the rest.
        raise typer.Exit(getattr(exc, "exit_code", 1)) from None


def report_unexpected(exc: BaseException) -> int:
    """One line naming an error nobody anticipated, with what to do next; the exit code."""
    if isinstance(exc, MemoryError):
        what = "ran out of memory"
    elif isinstance(exc, RecursionError):
        what = "input nested too deeply (recursion limit)"
    else:
        what = f"{type(exc).__name__}: {exc}".strip()
    typer.echo(
        f"error: unexpected {what}\n"
        f"hint: this is a convnas bug or an unhandled case; rerun with --debug (or "
        f"{DEBUG_ENV}=1) for the traceback and report it",
        err=True,
    )
    return 70  # EX_SOFTWARE: not the user's input error (1) nor a usage error (2)


# --------------------------------------------------------------------------------------------
# where the searches live
# --------------------------------------------------------------------------------------------


def engine_for(db: str | None, *, must_exist: bool = False) -> Any:
    """The engine for ``--db`` (else the environment, else ./convnas.db).

    ``must_exist`` for the commands that only read or continue a search: they must not create an
    empty SQLite file where the user mistyped a path. Errors name where the URL came from.
    """
    from search.service import DatabaseError, NoDatabase, get_engine

    try:
        return get_engine(db, must_exist=must_exist)
    except DatabaseError as exc:
        origin = "--db" if db else _database_origin()
        hint = (
            "; start a search with `convnas search run SPEC`" if isinstance(exc, NoDatabase) else ""
        )
        raise ConvnasError(f"{origin}: {exc}{hint}") from None


def _database_origin() -> str:
    """Where the URL of a database that failed came from, for its error message."""
    from search.settings import get_settings

    given = "database_url" in get_settings().model_fields_set
    return "CONVNAS_DATABASE_URL" if given else "database"


def server_for(db: str | None, server: str | None) -> str | None:
    """The server a command talks to: ``--server``, else $CONVNAS_SERVER unless ``--db`` was
    given (an explicit flag beats the environment); None for the local database."""
    if server and db:
        raise ConvnasError("choose one of --db and --server")
    if server:
        return server
    if db:
        return None
    return client_settings().server_url()


@contextmanager
def search_backend(
    db: str | None, server: str | None, *, must_exist: bool = True
) -> Iterator[Service]:
    """The service on the local database, or the client of a server: the same calls, models
    and errors, so that a command formats either with the same code."""
    url = server_for(db, server)
    if url is None:
        from search.service import LocalService

        yield LocalService(engine_for(db, must_exist=must_exist))
        return
    from api.client import ApiClient

    with ApiClient(url, client_settings().token()) as client:
        yield client


def start_logs() -> bool:
    """JSON log lines for a long-running command when ``CONVNAS_LOG_FORMAT=json``; returns
    whether they are on."""
    from search.logs import configure
    from search.settings import get_settings

    return configure(get_settings().log_format)

"""``convnas runner`` (the queue loop) and ``convnas serve`` (the HTTP API, plus a runner).

The API process never imports torch or Ray: ``convnas serve`` starts its runner as a separate
process (``convnas runner``), which is where searches are driven, and stops it when the server
stops. Without an API token the server listens on 127.0.0.1 unless ``--host`` says otherwise,
and it says at start whether clients need a token.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.commands.common import (
    AddressOpt,
    DbOpt,
    RunsOpt,
    engine_for,
    start_logs,
    user_errors,
)

if TYPE_CHECKING:
    from api.settings import ApiSettings

MaxOpt = Annotated[
    int,
    typer.Option("--max-searches", min=1, help="Searches one runner drives at once."),
]
RUNNER_STOP_SECONDS = 90.0  # the runner's own grace for its drivers, and then some
# Shorter, and a runner could take a search from a live driver between two of its heartbeats
# (search.records.lifecycle.HEARTBEAT_SECONDS; repeated here so that --help stays light).
STALE_MIN = 15.0


def runner_cmd(
    db: DbOpt = None,
    address: AddressOpt = None,
    runs_dir: RunsOpt = None,
    max_searches: MaxOpt = 1,
    poll: Annotated[
        float, typer.Option("--poll", min=0.05, help="Seconds between looks at the queue.")
    ] = 2.0,
    stale_after: Annotated[
        float,
        typer.Option(
            "--stale-after",
            min=STALE_MIN,
            help="Seconds without a heartbeat after which another runner's search is taken over "
            f"(at least {STALE_MIN:g}: three of the drivers' heartbeats).",
        ),
    ] = 60.0,
    exit_with_parent: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Run queued searches (oldest first) until stopped (SIGTERM or Ctrl-C: the searches it
    drives are stopped cleanly and queued again for the next runner)."""
    if exit_with_parent is not None:  # started by `convnas serve`: stop when it dies
        from search.run.runner import exit_with_parent as tie

        tie(exit_with_parent, signal.SIGTERM)
    with user_errors():
        from search.run.preflight import check_run_inputs
        from search.run.runner import serve_queue

        engine = engine_for(db)
        ray_address, runs = check_run_inputs(engine, address, runs_dir)
        start_logs()
        serve_queue(
            engine,
            ray_address=ray_address,
            runs_dir=runs,
            max_searches=max_searches,
            poll_seconds=poll,
            stale_after=timedelta(seconds=stale_after),
        )


def serve_cmd(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    no_runner: Annotated[
        bool, typer.Option("--no-runner", help="Serve the API only; run `convnas runner` apart.")
    ] = False,
    max_searches: MaxOpt = 1,
    db: DbOpt = None,
) -> None:
    """Serve the HTTP API (/api/v1, docs at /docs) and, unless --no-runner, one runner."""
    import uvicorn

    with user_errors():
        settings = _settings(db)
        json_logs = start_logs()
        _announce(settings, host, port)
        app = _create_app(settings, host)
    runner = None if no_runner else _start_runner(settings.database_url, max_searches)
    # uvicorn shuts down on SIGTERM, then raises it again with the handler found at start:
    # this one, so that the runner is stopped in order below rather than the process ending.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        # JSON logs: uvicorn's loggers left to propagate to the root's JSON handler.
        logging = None if json_logs else _log_config()
        uvicorn.run(app, host=host, port=port, log_level="info", log_config=logging)
    except KeyboardInterrupt:
        pass
    finally:
        if runner is not None:
            _stop_runner(runner)


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with convnas's own loggers on the same handler from INFO up (a client
    gone mid-body, a database down: one line each, formatted as uvicorn's)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["convnas"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _settings(db: str | None) -> ApiSettings:
    from api.settings import get_api_settings
    from search.settings import database_url

    # --db, else CONVNAS_DATABASE_URL, else ./convnas.db; spelled as the CLI accepts it.
    # Every setting is checked here (a SettingsError: exit 2), before anything listens.
    settings = get_api_settings().model_copy(update={"database_url": database_url(db)})
    engine_for(settings.database_url)  # an unusable database is refused before anything starts
    return settings


def _create_app(settings: ApiSettings, host: str) -> Any:
    from api.app import create_app
    from api.security import hosts_for_bind

    if not settings.allowed_hosts:  # the names it is reached by: loopback and the bind address
        settings = settings.model_copy(update={"allowed_hosts": hosts_for_bind(host)})
    names = ", ".join(settings.allowed_hosts)
    typer.echo(f"convnas serve: answers to Host {names} (CONVNAS_ALLOWED_HOSTS)", err=True)
    return create_app(settings)


def _announce(settings: ApiSettings, host: str, port: int) -> None:
    tokens = settings.tokens()
    where = f"http://{host}:{port}"
    if tokens:
        reads = "reads too" if settings.api_read == "token" else "reads are open"
        typer.echo(f"convnas serve: {where}: auth on ({len(tokens)} token(s); {reads})", err=True)
        return
    typer.echo(
        f"convnas serve: {where}: auth off (no CONVNAS_API_TOKEN or CONVNAS_API_TOKENS_FILE): "
        "anyone who can reach it can submit, cancel and delete searches",
        err=True,
    )
    if not _loopback(host):
        typer.echo(
            f"warning: listening on {host} without a token; set CONVNAS_API_TOKEN, or keep the "
            "default --host 127.0.0.1",
            err=True,
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _start_runner(database_url: str, max_searches: int) -> subprocess.Popen[bytes]:
    """``convnas runner`` as a process of its own (its own session: a Ctrl-C here stops the
    server, which then stops the runner in order)."""
    command = [sys.executable, "-c", "from api.cli import main; main()", "runner"]
    command += ["--max-searches", str(max_searches), "--exit-with-parent", str(os.getpid())]
    env = {**os.environ, "CONVNAS_DATABASE_URL": database_url}  # not on the command line
    proc = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603
    threading.Thread(target=_watch_runner, args=(proc,), daemon=True).start()
    return proc


def _watch_runner(proc: subprocess.Popen[bytes]) -> None:
    code = proc.wait()
    if code not in (0, -signal.SIGTERM):
        typer.echo(f"convnas serve: the runner exited with code {code}", err=True)


def _stop_runner(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=RUNNER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("runner")(runner_cmd)
    app.command("serve")(serve_cmd)

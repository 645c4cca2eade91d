"""The CLI against a server: the same commands with ``--server`` print what they print on the
database itself (a real app served by uvicorn on a loopback port, on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from click.testing import Result
from sqlalchemy import Engine
from typer.testing import CliRunner

import api.client
from api.app import create_app
from api.cli import app
from api.settings import ApiSettings
from search.records.db import Search, Trial, session_scope
from space.status import SearchStatus
from tests.search.search_helpers import spec_data
from tests.search.service_helpers import populate

runner = CliRunner()


@contextmanager
def live_server(db_url: str, **settings: Any) -> Iterator[str]:
    """The real app on a free loopback port, served by uvicorn in a thread; its URL."""
    made = create_app(ApiSettings(database_url=db_url, **settings))
    server = uvicorn.Server(
        uvicorn.Config(made, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.fixture(autouse=True)
def _no_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVNAS_SERVER", raising=False)
    monkeypatch.delenv("CONVNAS_DATABASE_URL", raising=False)


@pytest.fixture
def server(db_url: str) -> Iterator[str]:
    with live_server(db_url) as url:
        yield url


def both(args: list[str], db_url: str, url: str) -> tuple[Result, Result]:
    local = runner.invoke(app, [*args, "--db", db_url])
    remote = runner.invoke(app, [*args, "--server", url])
    return local, remote


def same(args: list[str], db_url: str, url: str) -> Result:
    """Run ``args`` on the database and on the server: the same exit code, stdout and stderr."""
    local, remote = both(args, db_url, url)
    assert remote.exit_code == local.exit_code, (args, local.output, remote.output)
    if "--json" in args and local.exit_code == 0:
        # Parsed: a search's "counts" come in the database's order, which PostgreSQL does not
        # keep from one query to the next (the text is the same up to that order).
        assert json.loads(remote.stdout) == json.loads(local.stdout), args
    else:
        assert remote.stdout == local.stdout, args
    assert remote.stderr == local.stderr, args
    return remote


def test_reads_print_the_same_as_local(
    engine: Engine, db_url: str, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = populate(engine, name="a")
    populate(engine, name="b")
    populate(engine, name="a")
    # Pages of 2 rows: a command asking for every row needs several requests.
    monkeypatch.setattr(api.client, "PAGE", 2)
    reads = [
        ["searches"],
        ["searches", "--json"],
        ["searches", "--name", "a", "--json"],
        ["searches", "--limit", "1", "--offset", "1", "--json"],
        ["searches", "--status", "queued"],
        ["leaderboard", str(sid)],
        ["leaderboard", str(sid), "--json"],
        ["leaderboard", "a", "--status", "all", "--json"],
        ["leaderboard", "a", "--status", "all", "--csv"],
        ["leaderboard", str(sid), "--status", "all", "--top", "3", "--offset", "0", "--json"],
        ["leaderboard", str(sid), "--top", "1"],
        ["leaderboard", str(sid), "--pareto", "--json"],
        ["leaderboard", str(sid), "--sort", "+params", "--status", "all"],
        ["trial", str(sid), "1"],
        ["trial", str(sid), "2", "--json"],
    ]
    for args in reads:
        done = same(args, db_url, server)
        assert done.exit_code == 0, (args, done.output)
    listed = json.loads(same(["searches", "--json"], db_url, server).stdout)
    assert listed["total"] == 3 and listed["limit"] is None and len(listed["items"]) == 3
    board = json.loads(
        same(["leaderboard", "a", "--status", "all", "--json"], db_url, server).stdout
    )
    assert [row["trial"] for row in board["items"]] == [1, 0, 2] and board["limit"] is None


def _without_time(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    document["provenance"].pop("exported_at")
    return dict(document)


def test_export_is_the_same_document_and_downloads_the_weights(
    engine: Engine, db_url: str, server: str, tmp_path: Path
) -> None:
    sid = populate(engine)
    for args in (["export", str(sid)], ["export", str(sid), "--trial", "0", "--format", "json"]):
        local, remote = both(args, db_url, server)
        assert local.exit_code == remote.exit_code == 0, remote.output
        assert _without_time(remote.stdout) == _without_time(local.stdout)

    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "model.pt").write_bytes(b"\x00weights\xff" * 1000)
    with session_scope(engine) as s:
        trial = s.query(Trial).filter_by(search_id=sid, number=1).one()
        trial.checkpoint = str(checkpoint)
    written = {}
    for where, flag, target in (
        ("local", ["--db", db_url], tmp_path / "local" / "best.yaml"),
        ("remote", ["--server", server], tmp_path / "remote" / "best.yaml"),
    ):
        out = runner.invoke(app, ["export", str(sid), "--weights", "-o", str(target), *flag])
        assert out.exit_code == 0, out.output
        weights = target.with_name("best.weights.pt")
        assert f"wrote {target} and {weights}: trial 1 of search {sid}" in out.stdout
        assert weights.read_bytes() == (checkpoint / "model.pt").read_bytes()
        written[where] = _without_time(target.read_text())
    assert written["remote"] == written["local"]
    assert written["remote"]["provenance"]["weights"]["file"] == "best.weights.pt"
    assert not list((tmp_path / "remote").glob("*.part"))

    args = ["export", str(sid), "--trial", "0", "--weights", "-o", str(tmp_path / "x.yaml")]
    out = runner.invoke(app, [*args, "--server", server])
    assert out.exit_code == 1 and "trial 0 of search" in out.output
    assert "kept no weights" in out.output and "Traceback" not in out.output


def test_errors_are_the_local_ones(
    engine: Engine, db_url: str, server: str, tmp_path: Path
) -> None:
    sid = populate(engine)
    identical = [
        ["leaderboard", "999"],  # 404
        ["leaderboard", "no-such-search", "--json"],
        ["leaderboard", str(sid), "--sort", "nope"],  # 422 naming --sort and the value
        ["leaderboard", str(sid), "--status", "bogus", "--json"],
        ["leaderboard", str(sid), "--cell-kind", "gruu"],
        ["searches", "--status", "nope"],
        ["trial", str(sid), "7"],
        ["export", "999"],
        ["export", str(sid), "-o", str(tmp_path)],  # a folder
        ["search", "cancel", "999"],
    ]
    for args in identical:
        done = same(args, db_url, server)
        assert done.exit_code == 1 and "Traceback" not in done.output, args
    remote = same(["leaderboard", str(sid), "--sort", "nope"], db_url, server)
    assert "--sort: unknown metric" in remote.output and "(got 'nope')" in remote.output
    # Bounds FastAPI checks before the service: another wording, the same flag.
    _, remote = both(["leaderboard", str(sid), "--top", "0"], db_url, server)
    assert remote.exit_code == 1 and "--top:" in remote.output, remote.output
    _, remote = both(["export", str(sid), "--format", "xml"], db_url, server)
    assert remote.exit_code == 1 and "--format:" in remote.output, remote.output

    assert runner.invoke(app, ["search", "cancel", str(sid), "--server", server]).exit_code == 0
    out = runner.invoke(app, ["search", "resume", str(sid), "--server", server])  # 409
    assert out.exit_code == 1 and f"search {sid} (tiny) is cancelled; nothing to run" in out.output
    out = runner.invoke(app, ["searches", "--server", server, "--db", db_url])
    assert out.exit_code == 1 and "choose one of --db and --server" in out.output


def test_an_unreachable_server_is_one_line_naming_it(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    for args in (["searches"], ["leaderboard", "1", "--json"], ["search", "cancel", "1"]):
        out = runner.invoke(app, [*args, "--server", url])
        assert out.exit_code == 1, out.output
        assert f"cannot reach the convnas server at {url}" in out.output
        assert "Traceback" not in out.output
    out = runner.invoke(app, ["searches", "--server", "localhost:8000"])
    assert out.exit_code == 1 and "'localhost:8000' is not a server URL" in out.output


def test_tokens(engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = populate(engine)
    with live_server(db_url, api_token="s3cret") as url:
        cancel = ["search", "cancel", str(sid), "--server", url]
        out = runner.invoke(app, cancel)  # 401: no token
        assert out.exit_code == 1 and "needs a token" in out.output
        assert "CONVNAS_API_TOKEN" in out.output and "Traceback" not in out.output
        assert runner.invoke(app, ["searches", "--server", url]).exit_code == 0  # reads open
        monkeypatch.setenv("CONVNAS_API_TOKEN", "wrong")
        out = runner.invoke(app, cancel)  # 403
        assert out.exit_code == 1 and "refused the token in CONVNAS_API_TOKEN" in out.output
        monkeypatch.setenv("CONVNAS_API_TOKEN", "s3cret")
        out = runner.invoke(app, [*cancel, "--json"])
        assert out.exit_code == 0, out.output
        assert json.loads(out.stdout)["search"]["status"] == "cancelled"
    monkeypatch.delenv("CONVNAS_API_TOKEN")
    with live_server(db_url, api_token="s3cret", api_read="token") as url:
        out = runner.invoke(app, ["searches", "--server", url])
        assert out.exit_code == 1 and "needs a token" in out.output
        monkeypatch.setenv("CONVNAS_API_TOKEN", "s3cret")
        assert runner.invoke(app, ["searches", "--server", url]).exit_code == 0


def test_submit_resume_delete_over_http(
    engine: Engine, db_url: str, server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(spec_data("remote_one")))
    as_json = tmp_path / "tiny.json"
    as_json.write_text(json.dumps(spec_data("remote_two")))
    local, remote = both(["search", "submit", str(spec), "--json"], db_url, server)
    assert local.exit_code == remote.exit_code == 0, remote.output
    made, here = json.loads(remote.stdout), json.loads(local.stdout)
    assert made["status"] == "queued" and made["id"] == here["id"] + 1 and "links" not in made
    drop = ("id", "created_at")
    assert {k: v for k, v in made.items() if k not in drop} == {
        k: v for k, v in here.items() if k not in drop
    }
    monkeypatch.setenv("CONVNAS_SERVER", server)  # the environment names the server
    out = runner.invoke(app, ["search", "submit", str(as_json)])
    assert out.exit_code == 0 and "(remote_two) queued: 4 trials" in out.stdout, out.output
    page = json.loads(runner.invoke(app, ["searches", "--json"]).stdout)
    assert [(s["name"], s["status"]) for s in page["items"]] == [
        ("remote_two", "queued"),
        ("remote_one", "queued"),
        ("remote_one", "queued"),
    ]
    monkeypatch.delenv("CONVNAS_SERVER")

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nclasses: 1\nlayers: 3\n")
    done = same(["search", "submit", str(bad)], db_url, server)  # 422, every problem and line
    assert done.exit_code == 1 and f"{bad}:2: classes" in done.output, done.output
    assert f"{bad}:3: layers" in done.output
    same(["search", "submit", str(tmp_path / "missing.yaml")], db_url, server)

    sid = made["id"]
    with session_scope(engine) as s:  # its runner died: failed, resumable
        s.get(Search, sid).status = SearchStatus.FAILED  # type: ignore[union-attr]
    # Locally, resume drives the search here; on a server it queues it for the server's runner.
    out = runner.invoke(app, ["search", "resume", str(sid), "--server", server])
    assert out.exit_code == 0 and out.stdout == f"search {sid} queued to resume\n", out.output
    out = runner.invoke(app, ["search", "resume", str(sid), "--server", server, "--json"])
    assert json.loads(out.stdout)["search"]["status"] == "queued"
    out = runner.invoke(app, ["search", "delete", str(sid), "--yes", "--server", server])
    assert out.exit_code == 0 and f"search {sid} deleted" in out.stdout, out.output
    out = runner.invoke(app, ["searches", "--json", "--server", server])
    assert [s["id"] for s in json.loads(out.stdout)["items"]] == [sid + 1, sid - 1]
    out = runner.invoke(app, ["search", "run", str(spec), "--server", server])
    assert out.exit_code == 1 and "search submit" in out.output

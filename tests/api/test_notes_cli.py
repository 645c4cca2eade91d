"""``convnas note`` (issue 23) on a database and on a server (SQLite and PostgreSQL): the same
output either way, its --json the search's or the trial's document, errors named by flag."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.cli import app
from tests.api.test_remote_cli import live_server, same
from tests.search.service_helpers import populate

runner = CliRunner()
NOTE = "# Best so far\n\nThe **lstm** cells converge fastest.\n"


@pytest.fixture(autouse=True)
def _no_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONVNAS_SERVER", "CONVNAS_DATABASE_URL", "CONVNAS_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server(db_url: str) -> Iterator[str]:
    with live_server(db_url) as url:
        yield url


def _json(args: list[str], db_url: str) -> dict[str, object]:
    done = runner.invoke(app, [*args, "--json", "--db", db_url])
    assert done.exit_code == 0, done.output
    found: dict[str, object] = json.loads(done.stdout)
    return found


def test_set_show_and_clear_a_search_note(engine: Engine, db_url: str, tmp_path: Path) -> None:
    sid = populate(engine)
    document = _json(["note", str(sid), "--set", NOTE], db_url)
    assert document["id"] == sid and document["note"] == NOTE and "reason" in document
    shown = runner.invoke(app, ["note", "tiny", "--db", db_url])
    assert shown.exit_code == 0 and shown.stdout == NOTE + "\n"  # as written, for a pipe
    assert _json(["searches"], db_url)["items"][0]["note"] == NOTE  # type: ignore[index]

    source = tmp_path / "note.md"
    source.write_text("from a *file*", encoding="utf-8")
    assert _json(["note", str(sid), "--file", str(source)], db_url)["note"] == "from a *file*"
    piped = runner.invoke(app, ["note", str(sid), "--file", "-", "--db", db_url], input="piped")
    assert piped.exit_code == 0 and piped.stdout == f"search {sid}: note saved (5 characters)\n"

    cleared = runner.invoke(app, ["note", str(sid), "--clear", "--db", db_url])
    assert cleared.stdout == f"search {sid}: note cleared\n"
    empty = runner.invoke(app, ["note", str(sid), "--db", db_url])
    assert empty.exit_code == 0 and empty.stdout == ""
    assert empty.stderr == f"search {sid} has no note\n"


def test_a_trial_note_in_the_trial_json(engine: Engine, db_url: str) -> None:
    sid = populate(engine)
    document = _json(["note", str(sid), "--trial", "1", "--set", NOTE], db_url)
    assert document["trial"] == 1 and document["note"] == NOTE
    assert _json(["trial", str(sid), "1"], db_url)["note"] == NOTE
    assert _json(["trial", str(sid), "0"], db_url)["note"] is None
    assert _json(["note", str(sid), "--trial", "1", "--set", ""], db_url)["note"] is None


def test_errors_name_the_flags(engine: Engine, db_url: str, tmp_path: Path) -> None:
    sid = populate(engine)
    cases = {
        ("--set", "a", "--clear"): "error: choose one of --set, --file and --clear",
        ("--set", "x" * 20_001): "--set/--file: too long: 20,001 characters (limit "
        "MAX_NOTE_CHARS = 20,000)",
        ("--file", str(tmp_path / "missing.md")): f"error: --file {tmp_path / 'missing.md'}: "
        "No such file or directory",
        ("--trial", "7", "--set", "x"): f"error: search {sid} has no trial number 7",
    }
    for flags, message in cases.items():
        done = runner.invoke(app, ["note", str(sid), *flags, "--db", db_url])
        assert done.exit_code == 1 and message in done.stderr, (flags, done.output)
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"\xff\xfe")
    done = runner.invoke(app, ["note", str(sid), "--file", str(binary), "--db", db_url])
    assert done.exit_code == 1 and "not UTF-8 text" in done.stderr
    as_json = runner.invoke(app, ["note", "nope", "--set", "x", "--json", "--db", db_url])
    assert json.loads(as_json.stdout)["ok"] is False


def test_on_a_server_as_on_the_database(engine: Engine, db_url: str, server: str) -> None:
    sid = populate(engine)
    same(["note", str(sid), "--set", NOTE], db_url, server)
    same(["note", str(sid)], db_url, server)
    same(["note", str(sid), "--json"], db_url, server)
    same(["note", str(sid), "--trial", "2", "--set", "trial two", "--json"], db_url, server)
    same(["note", str(sid), "--trial", "2"], db_url, server)
    same(["note", str(sid), "--set", "x" * 20_001], db_url, server)
    same(["note", str(sid), "--trial", "9", "--set", "x"], db_url, server)
    remote = same(["note", str(sid), "--clear", "--json"], db_url, server)
    assert json.loads(remote.stdout)["note"] is None

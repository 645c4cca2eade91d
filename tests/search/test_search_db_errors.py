"""Bad ``--db`` values: one clear line and exit 1 from every command, never a traceback, and the
read-only commands never create an empty SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from search.records.db import DatabaseError, create_db_engine

runner = CliRunner()

READ_ONLY = (["searches"], ["leaderboard", "1"], ["export", "1"], ["search", "resume", "1"],
             ["search", "cancel", "1"])  # fmt: skip


def _spec(tmp_path: Path) -> Path:
    import yaml

    from tests.search.search_helpers import spec_data

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_data()))
    return path


def _commands(tmp_path: Path) -> list[list[str]]:
    return [*READ_ONLY, ["search", "run", str(_spec(tmp_path))]]


def _assert_clean(out: object, *needles: str) -> None:
    text = out.output  # type: ignore[attr-defined]
    assert out.exit_code == 1, text  # type: ignore[attr-defined]
    assert "Traceback" not in text and len(text.splitlines()) <= 3, text
    for needle in needles:
        assert needle in text, (needle, text)


@pytest.mark.parametrize(
    ("url", "needles"),
    [
        ("postgres://nowhere.invalid:1/x", ["--db: cannot connect to", "nowhere.invalid"]),
        ("mysql://x@localhost/db", ["--db: cannot connect to", "unsupported database 'mysql'"]),
        ("bogus", ["--db: 'bogus' is not a database URL"]),
    ],
)
def test_bad_urls_are_one_line_for_every_command(
    tmp_path: Path, url: str, needles: list[str]
) -> None:
    for command in _commands(tmp_path):
        _assert_clean(runner.invoke(app, [*command, "--db", url]), *needles)


def test_missing_sqlite_folder_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    nowhere = "sqlite:////nonexistent_dir_convnas/x.db"
    out = runner.invoke(app, ["search", "run", str(_spec(tmp_path)), "--db", nowhere])
    _assert_clean(out, "--db: cannot connect to", "/nonexistent_dir_convnas does not exist")
    target = tmp_path / "fresh.db"
    for command in READ_ONLY:
        out = runner.invoke(app, [*command, "--db", str(target)])
        _assert_clean(out, f"no convnas database at {target}", "convnas search run")
        assert not target.exists(), command
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


@pytest.mark.postgres
def test_missing_postgres_database() -> None:
    from sqlalchemy.engine import make_url

    from tests.db_helpers import POSTGRES_ENV, postgres_base_url

    base = postgres_base_url()
    if base is None:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL case skipped")
    missing = make_url(base).set(database="convnas_no_such_db").render_as_string(False)
    for command in READ_ONLY:
        out = runner.invoke(app, [*command, "--db", missing])
        _assert_clean(out, "--db: cannot connect to", 'database "convnas_no_such_db" does not')


def test_engine_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="not a database URL"):
        create_db_engine("nonsense")
    with pytest.raises(DatabaseError, match="no convnas database"):
        create_db_engine(str(tmp_path / "absent.db"), must_exist=True)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError, match=r"cannot connect to .*not a database"):
        create_db_engine(str(garbage))

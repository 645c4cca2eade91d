"""What a search run checks before it spends anything: the Ray address (malformed, or nothing
answering), the runs folder, the database (read-only, a driver that is not installed). Each is a
named error, raised fast, and the search stays queued with nothing recorded."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from search.records.db import DatabaseError, Search, Trial, create_db_engine, session_scope
from search.records.lifecycle import create_search
from search.run.driver import run_search
from search.run.preflight import (
    RayAddressError,
    RunsDirError,
    check_ray_address,
    check_run_inputs,
    check_runs_dir,
    parse_ray_address,
)
from tests.search.search_helpers import tiny_spec

CORPUS = Path(__file__).resolve().parents[1] / "hostile" / "search"


def corpus_lines(name: str) -> list[str]:
    lines = (CORPUS / name).read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def state_of(engine: Engine, search_id: int) -> tuple[str, int]:
    with session_scope(engine) as s:
        search = s.get(Search, search_id)
        assert search is not None
        trials = s.scalar(select(func.count()).where(Trial.search_id == search_id))
        return search.status, int(trials or 0)


@pytest.mark.parametrize("address", corpus_lines("malformed_ray_addresses.txt"))
def test_malformed_ray_address_is_named(address: str) -> None:
    start = time.monotonic()
    with pytest.raises(RayAddressError) as caught:
        check_ray_address(address)
    assert time.monotonic() - start < 1
    assert f"ray_address: {address!r} is not a Ray address" in str(caught.value)


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("127.0.0.1:6379", ("127.0.0.1", 6379)),
        ("ray://head-node.cluster.local:10001", ("head-node.cluster.local", 10001)),
        ("[::1]:6379", ("::1", 6379)),
        ("auto", None),
    ],
)
def test_well_formed_ray_addresses(address: str, parsed: tuple[str, int] | None) -> None:
    assert parse_ray_address(address) == parsed


def test_closed_port_is_refused_within_the_timeout() -> None:
    address = f"127.0.0.1:{closed_port()}"
    start = time.monotonic()
    with pytest.raises(RayAddressError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:\d+"):
        check_ray_address(address, timeout=2)
    assert time.monotonic() - start < 2.5


def test_unreachable_address_leaves_the_search_queued(engine: Engine, tmp_path: Path) -> None:
    """Before: ``--address 127.0.0.1:6399`` hung for over ten minutes inside ``ray.init``."""
    search_id = create_search(engine, tiny_spec())
    address = f"127.0.0.1:{closed_port()}"
    start = time.monotonic()
    with pytest.raises(RayAddressError, match=f"cannot reach the Ray cluster at {address} within"):
        run_search(engine, search_id, ray_address=address, runs_dir=tmp_path / "runs")
    assert time.monotonic() - start < 10
    assert state_of(engine, search_id) == ("queued", 0)
    with pytest.raises(RayAddressError, match="'not a host' is not a Ray address"):
        run_search(engine, search_id, ray_address="not a host", runs_dir=tmp_path / "runs")
    assert state_of(engine, search_id) == ("queued", 0)


def test_the_address_stored_with_the_search_is_checked(engine: Engine, tmp_path: Path) -> None:
    search_id = create_search(engine, tiny_spec(), ray_address="127.0.0.1")
    with pytest.raises(RayAddressError, match=r"'127\.0\.0\.1' is not a Ray address"):
        run_search(engine, search_id, runs_dir=tmp_path)
    assert state_of(engine, search_id) == ("queued", 0)


def test_runs_dir_that_is_a_file(engine: Engine, tmp_path: Path) -> None:
    search_id = create_search(engine, tiny_spec())
    a_file = tmp_path / "runs.txt"
    a_file.write_text("not a folder")
    with pytest.raises(RunsDirError, match=f"runs_dir: {a_file} is a file, not a folder"):
        run_search(engine, search_id, runs_dir=a_file)
    with pytest.raises(RunsDirError, match=f"runs_dir: cannot write to {a_file / 'below'}"):
        run_search(engine, search_id, runs_dir=a_file / "below")
    assert state_of(engine, search_id) == ("queued", 0)
    assert a_file.read_text() == "not a folder"
    made = check_runs_dir(tmp_path / "new" / "runs")
    assert made.is_local and Path(made.path).is_dir() and Path(made.path).is_absolute()


@pytest.fixture
def read_only_sqlite(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A SQLite database holding one queued search, then made read-only: chmod for a normal
    user; as root (who ignores modes) the immutable attribute, or a skip without it."""
    path = tmp_path / "ro.db"
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    search_id = create_search(engine, tiny_spec())
    engine.dispose()
    immutable = False
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        done = chattr and subprocess.run([chattr, "+i", str(path)], capture_output=True)
        if not done or done.returncode != 0:
            pytest.skip("running as root without chattr +i: cannot make a read-only file")
        immutable = True
    else:
        path.chmod(0o444)
    try:
        yield url, search_id
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o644)


def test_read_only_sqlite_is_a_named_error_and_loses_nothing(
    read_only_sqlite: tuple[str, int], tmp_path: Path
) -> None:
    url, search_id = read_only_sqlite
    engine = create_db_engine(url)  # reading works: the leaderboard of a read-only copy
    try:
        assert state_of(engine, search_id) == ("queued", 0)
        with pytest.raises(DatabaseError, match=r"cannot write to sqlite:///.*ro\.db \(.*readonly"):
            create_search(engine, tiny_spec())
        with pytest.raises(DatabaseError, match="cannot write to"):
            run_search(engine, search_id, runs_dir=tmp_path / "runs")
        assert state_of(engine, search_id) == ("queued", 0)
        with session_scope(engine) as s:
            assert s.scalar(select(func.count()).select_from(Search)) == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("line", corpus_lines("unusable_db_urls.txt"))
def test_unusable_database_urls_name_the_url(line: str) -> None:
    url, expected = line.split("\t")
    with pytest.raises(DatabaseError) as caught:
        create_db_engine(url)
    message = str(caught.value)
    assert "cannot connect to" in message and expected in message, message
    assert url.split("://")[0] in message


def test_run_inputs_checked_before_anything_is_stored(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a CLI calls before it submits: the settings' defaults are checked as well."""
    monkeypatch.delenv("CONVNAS_RAY_ADDRESS", raising=False)
    monkeypatch.setenv("CONVNAS_RUNS_DIR", str(tmp_path / "env-runs"))
    address, runs = check_run_inputs(engine, None, None)
    assert (address, runs.uri) == (None, str((tmp_path / "env-runs").resolve()))
    address = f"127.0.0.1:{closed_port()}"
    monkeypatch.setenv("CONVNAS_RAY_ADDRESS", address)
    with pytest.raises(RayAddressError, match=f"cannot reach the Ray cluster at {address}"):
        check_run_inputs(engine, None, tmp_path)
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Search)) == 0

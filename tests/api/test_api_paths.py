"""One path policy over HTTP (issue 18): every file a spec names (dataset, neural data) must
resolve inside the server's data roots, and a path outside them gets ONE message whatever is
there; nothing in a file inside them is echoed, and checking one costs bounded memory.

The hostile cases are ``tests/hostile/paths/make_hostile_paths.py`` (README beside it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from search.records.db import Search, session_scope
from space.paths import NOT_ABSOLUTE, OUTSIDE_ROOTS
from tests.api.api_helpers import API, PROBLEM, make_client
from tests.hostile.paths import make_hostile_paths as hostile
from tests.search.search_helpers import spec_data

FIT = {"metric": "neural_fit", "region": "IT"}
# field -> how a spec names a path in it
FIELDS = {
    "dataset.path": lambda path: {"dataset": f"npz:{path}"},
    "dataset.path (imagefolder)": lambda path: {"dataset": f"imagefolder:{path}"},
    "neural.data": lambda path: {
        "neural": {"data": f"neural:{path}"},
        "objectives": [FIT],
        "search": {**spec_data()["search"], "scheduler": "fifo"},
    },
}


def _spec(field: str, path: str | Path) -> dict[str, Any]:
    return {**spec_data("paths"), **FIELDS[field](path)}


def _both(client: TestClient, data: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """The problems of validating and of submitting ``data`` (which must be refused)."""
    validated = client.post(f"{API}/spaces/validate", json=data).json()
    assert validated["ok"] is False, validated
    submitted = client.post(f"{API}/searches", json=data)
    assert submitted.status_code == 422, submitted.text
    assert submitted.headers["content-type"] == PROBLEM
    return validated["errors"], submitted.json()["errors"]


@pytest.mark.parametrize("field", list(FIELDS))
def test_outside_the_roots_everything_gets_one_message(
    client: TestClient, data_root: Path, tmp_path: Path, field: str
) -> None:
    """/etc/shadow gave "not a readable .npz file (File is not a zip file)", a missing file
    "no such file", a folder "not a file": an existence oracle for any server path; the neural
    data was not confined at all. Now all of them, and links planted inside a root that lead
    out, give the same problem on validate and on submit."""
    outside = hostile.outside_targets(tmp_path / "server")
    targets = {**outside, **hostile.planted_links(data_root, outside)}
    targets["escape"] = data_root / ".." / "server" / "shadow"
    targets["etc"] = Path("/etc/shadow")
    seen = set()
    for name, path in targets.items():
        for problems in _both(client, _spec(field, path)):
            assert len(problems) == 1, (name, problems)
            [problem] = problems
            assert problem["value"] == str(path), name  # the client's own text, nothing more
            seen.add((problem["path"], problem["message"]))
    assert seen == {(field.split(" ")[0], OUTSIDE_ROOTS)}
    assert client.get(f"{API}/searches").json()["total"] == 0


@pytest.mark.parametrize("field", list(FIELDS))
@pytest.mark.parametrize("path", ["~/d.npz", "~root/d.npz", "d.npz", "./sets/d.npz"])
def test_home_and_relative_paths_are_refused(client: TestClient, field: str, path: str) -> None:
    """``~`` was expanded to the server's home for the neural data; relative paths depend on
    the folder the runner starts in."""
    for problems in _both(client, _spec(field, path)):
        assert [(p["path"], p["message"], p["value"]) for p in problems] == [
            (field.split(" ")[0], NOT_ABSOLUTE, path)
        ]


def test_neural_data_inside_a_root_is_checked_and_accepted(
    client: TestClient, data_root: Path
) -> None:
    good = hostile.neural_file(data_root / "n.npz", regions=["V4", "IT", "IT"])
    assert client.post(f"{API}/spaces/validate", json=_spec("neural.data", good)).json()["ok"]
    created = client.post(f"{API}/searches", json=_spec("neural.data", good))
    assert created.status_code == 201, created.text
    missing = _spec("neural.data", data_root / "absent.npz")
    [problem] = client.post(f"{API}/spaces/validate", json=missing).json()["errors"]
    assert problem["path"] == "neural.data" and "no such file" in problem["message"]


def test_region_names_in_a_file_are_never_echoed(client: TestClient, data_root: Path) -> None:
    """An objective region the file lacks listed the file's regions array ("regions: SECRET_A,
    SECRET_B, ..."): content of a file the client cannot otherwise read."""
    path = hostile.neural_file(data_root / "secret.npz")
    for problems in _both(client, _spec("neural.data", path)):
        assert [(p["path"], p["value"]) for p in problems] == [("objectives.0.region", "IT")]
        assert "SECRET" not in str(problems)


def test_a_regions_bomb_is_refused_from_its_header(client: TestClient, data_root: Path) -> None:
    """A 389 kB file took the server from 156 MB to 1.3 GB in one validate request."""
    path = hostile.regions_bomb(data_root / "bomb.npz", neurons=20_000_000)
    for problems in _both(client, _spec("neural.data", path)):
        assert [(p["path"], p["message"]) for p in problems] == [
            ("neural.regions", "the regions array is larger than 64 MiB")
        ]


def test_a_search_keeps_the_roots_its_files_were_checked_against(
    client: TestClient, engine: Engine, data_root: Path
) -> None:
    good = hostile.neural_file(data_root / "n.npz", regions=["V4", "IT", "IT"])
    created = client.post(f"{API}/searches", json=_spec("neural.data", good))
    assert created.status_code == 201, created.text
    with session_scope(engine) as s:
        roots = s.scalar(select(Search.data_roots).where(Search.id == created.json()["id"]))
    assert roots == [str(data_root.resolve())]


def test_without_roots_no_file_field_is_accepted(db_url: str, tmp_path: Path) -> None:
    good = hostile.neural_file(tmp_path / "n.npz", regions=["V4", "IT", "IT"])
    with make_client(db_url) as client:
        for problems in _both(client, _spec("neural.data", good)):
            assert [p["path"] for p in problems] == ["neural.data"]
            assert "CONVNAS_DATA_ROOTS" in problems[0]["message"]

"""DELETE removes a search's runs folder with its records, and ids are never reused (issue 18:
the trained weights stayed on disk, and SQLite gave the next search the deleted one's id, so
old links opened a different search)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, update

from search.records.db import Search, session_scope
from search.records.storage import runs_location, search_folder
from tests.api.api_helpers import API, make_client
from tests.search.search_helpers import spec_data
from tests.search.service_helpers import populate


def _runs(engine: Engine, search_id: int, folder: Path) -> Path:
    (folder / "run-1" / "trial_0" / "checkpoint_000001").mkdir(parents=True)
    (folder / "run-1" / "trial_0" / "checkpoint_000001" / "weights.pt").write_bytes(b"w" * 64)
    with session_scope(engine) as s:
        s.execute(update(Search).where(Search.id == search_id).values(run_dir=str(folder)))
    return folder


def test_delete_removes_the_runs_folder_and_the_id_is_not_reused(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    first = populate(engine, name="first")
    second = populate(engine, name="second")
    kept = _runs(engine, first, Path(search_folder(runs_location(tmp_path), first).path))
    gone = _runs(engine, second, Path(search_folder(runs_location(tmp_path), second).path))
    with make_client(db_url) as client:
        answer = client.delete(f"{API}/searches/{second}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["message"] == f"search {second} deleted"
        assert not gone.exists() and kept.exists()
        made = client.post(f"{API}/searches", json=spec_data("third"))
        assert made.status_code == 201, made.text
        assert made.json()["id"] == second + 1
        assert client.get(f"{API}/searches/{second}").status_code == 404


def test_a_runs_folder_not_named_for_the_search_is_left(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    search_id = populate(engine, name="odd")
    elsewhere = _runs(engine, search_id, tmp_path / "precious")
    with make_client(db_url) as client:
        answer = client.delete(f"{API}/searches/{search_id}")
    assert answer.status_code == 200, answer.text
    assert "was left (not a search folder)" in answer.json()["message"]
    assert (elsewhere / "run-1" / "trial_0" / "checkpoint_000001" / "weights.pt").exists()

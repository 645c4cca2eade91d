"""The path policy in the service and the runner (issue 18): the neural data check opens only a
confined file and reads its regions in bounded memory; a served search keeps its data roots and
the runner hands them to every trial, a local one stays unconfined.

The hostile cases are ``tests/hostile/paths/make_hostile_paths.py`` (README beside it).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select

from search import service
from search.records.db import Trial, create_db_engine, session_scope
from search.run.driver import _open_ledger, _Run, run_search
from space.paths import OUTSIDE_ROOTS
from space.spec import SearchSpec, spec_from_data
from tests.hostile.paths import make_hostile_paths as hostile
from tests.search.search_helpers import spec_data
from workers.neural.check import neural_data_problems

# What checking a neural file may allocate at most (the old check read the regions whole, then
# made a Python string of each name: well over 100 MB for the bomb below).
CHECK_MEMORY = 16 * 2**20


def _neural_spec(path: Path, region: str = "IT") -> SearchSpec:
    data = spec_data(objectives=[{"metric": "neural_fit", "region": region}], scheduler="fifo")
    data["neural"] = {"data": f"neural:{path}"}
    return spec_from_data(data)


def test_regions_are_read_in_bounded_memory(tmp_path: Path) -> None:
    spec = _neural_spec(hostile.regions_bomb(tmp_path / "bomb.npz"))
    tracemalloc.start()
    try:
        found = neural_data_problems(spec, [tmp_path])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(p.path, p.message) for p in found] == [
        ("objectives.0.region", "no such region in the neural data file")
    ]
    assert peak < CHECK_MEMORY, f"checking the regions took {peak / 2**20:.0f} MiB"


def test_the_neural_check_opens_only_inside_the_roots(tmp_path: Path) -> None:
    root = tmp_path / "root"
    inside = hostile.neural_file(root / "n.npz", regions=["IT"])
    assert neural_data_problems(_neural_spec(inside), [root]) == []
    hostile.swap_for_symlink(inside, hostile.neural_file(tmp_path / "secret.npz"))
    [problem] = neural_data_problems(_neural_spec(inside), [root])
    assert (problem.path, problem.message) == ("neural.data", OUTSIDE_ROOTS)
    assert neural_data_problems(_neural_spec(inside, "SECRET_A"), None) == []  # local


def _trial_config(engine: Engine, search_id: int, spec: SearchSpec, runs: Path) -> dict[str, Any]:
    run = _Run(engine, search_id, "test:1", None, runs, None, None, None)
    return _open_ledger(run, spec, None).trial_config


def test_the_runner_hands_a_served_searchs_roots_to_its_trials(
    engine: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    spec = _neural_spec(hostile.neural_file(root / "n.npz", regions=["IT"]))
    served = service.submit(engine, spec, data_roots=[root])
    local = service.submit(engine, spec)
    assert _trial_config(engine, served.id, spec, tmp_path)["data_roots"] == [str(root)]
    assert "data_roots" not in _trial_config(engine, local.id, spec, tmp_path)


def test_submit_with_roots_refuses_a_path_outside_them(engine: Engine, tmp_path: Path) -> None:
    outside = hostile.neural_file(tmp_path / "n.npz", regions=["IT"])
    for check_data in (True, False):  # confinement is not a data check one may skip
        try:
            spec = _neural_spec(outside)
            service.submit(engine, spec, data_roots=[tmp_path / "root"], check_data=check_data)
        except service.InvalidRequest as exc:
            assert [(p.path, p.message) for p in exc.problems] == [("neural.data", OUTSIDE_ROOTS)]
        else:
            raise AssertionError(f"submitted with check_data={check_data}")
    assert service.list_searches(engine).total == 0


@pytest.mark.ray
@pytest.mark.slow
def test_a_file_swapped_after_submit_is_refused_where_the_trial_opens_it(
    ray_address: str, tmp_path: Path
) -> None:
    """The data roots were checked at submit only: a file inside a root replaced by a symlink
    leading out before the runner started was read from outside. Now the trials fail with the
    policy's message and nothing outside is read."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    for folder in (root, outside):
        folder.mkdir()
        np.savez(folder / "d.npz", x=np.zeros((40, 8, 8), np.uint8), y=np.arange(40) % 10)
    data = spec_data(trials=2, concurrency=1, single=True)
    data["dataset"] = f"npz:{root / 'd.npz'}"
    engine = create_db_engine(f"sqlite:///{tmp_path / 'convnas.db'}")
    try:
        search = service.submit(engine, spec_from_data(data), data_roots=[root])
        hostile.swap_for_symlink(root / "d.npz", outside / "d.npz")
        outcome = run_search(engine, search.id, runs_dir=tmp_path / "runs")
        with session_scope(engine) as s:
            rows = list(s.scalars(select(Trial).where(Trial.search_id == search.id)))
            reasons = [(t.status, t.error) for t in rows]
    finally:
        engine.dispose()
    assert outcome.status == "failed", outcome
    failed = [error for status, error in reasons if status == "failed"]
    assert failed and all(OUTSIDE_ROOTS in (error or "") for error in failed), reasons

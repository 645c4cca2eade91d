"""The server's limits (trials, layers, input size, the smallest arch's cost) and data roots:
each a 422 naming the field, before anything is queued or any file is read."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from search.service.policy import Limits, cost_problems
from space import budget
from space.budget import feasibility_warning
from space.spec import Constraints, spec_from_data
from tests.api.api_helpers import API, PROBLEM, make_client
from tests.search.search_helpers import spec_data


def _submit(client: TestClient, data: dict[str, Any]) -> Any:
    return client.post(f"{API}/searches", json=data)


def _paths(response: Any) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    return {p["path"] for p in response.json()["errors"]}


def test_trials_layers_and_input_size(db_url: str) -> None:
    limits = {"max_trials": 3, "max_layers": 1, "max_input_size": 16}
    with make_client(db_url, **limits) as client:
        response = _submit(client, spec_data("big", trials=4))
        assert _paths(response) == {"search.trials", "layers"}
        by_path = {p["path"]: p for p in response.json()["errors"]}
        assert by_path["search.trials"]["value"] == 4
        assert "max_trials 3" in by_path["search.trials"]["message"]
        data = spec_data("wide", trials=3, single=True)
        data["input"]["size"] = {"choice": [8, 32]}  # any value it can take must fit
        assert _paths(_submit(client, data)) == {"input.size"}
        assert _submit(client, spec_data("fits", trials=3, single=True)).status_code == 201
        assert client.get(f"{API}/searches").json()["total"] == 1
        checked = client.post(f"{API}/spaces/validate", json=spec_data("big", trials=4)).json()
        assert checked["ok"] is False
        assert {p["path"] for p in checked["errors"]} == {"search.trials", "layers"}


@pytest.mark.parametrize("kind", ["params", "flops", "activation_memory"])
def test_smallest_arch_over_a_cost_limit(db_url: str, kind: str) -> None:
    with make_client(db_url, **{f"max_{kind}": 10}) as client:
        response = _submit(client, spec_data("costly"))
        assert _paths(response) == {f"cost.{kind}"}
        [problem] = response.json()["errors"]
        assert problem["value"] > 10 and f"max_{kind}" in problem["message"]


def test_cost_check_stops_at_the_first_arch_that_fits() -> None:
    spec = spec_from_data(spec_data("x"))
    roomy = Limits(10, 10, 100, 10**9, 10**12, 10**12)
    assert cost_problems(spec, roomy) == []
    tight = Limits(10, 10, 100, 1, 1, 1)
    assert {p.path for p in cost_problems(spec, tight, samples=5)} == {
        "cost.params",
        "cost.flops",
        "cost.activation_memory",
    }


def test_cost_check_stops_at_its_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A space whose archs are slow to cost is sampled for SAMPLING_SECONDS, not 100 times
    (100 archs of 64 layers took 0.6 s to 4 s), and the problem says how many were sampled."""
    spec = spec_from_data(spec_data("x"))
    tight = Limits(10, 10, 100, 1, 1, 1)
    monkeypatch.setattr(budget, "SAMPLING_SECONDS", 0.0)
    problems = cost_problems(spec, tight)  # the first arch always comes
    assert all("the smallest of 1 sampled architectures" in p.message for p in problems)
    constrained = spec.model_copy(update={"constraints": Constraints(max_params=1)})
    assert "none of 1 distinct sampled" in (feasibility_warning(constrained) or "")


def _npz(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(0, 255, (40, 8, 8), dtype=np.uint8), y=np.arange(40) % 10)
    return path


def _with_npz(path: str | Path) -> dict[str, Any]:
    data = spec_data("files")
    data["dataset"] = {"name": "npz", "path": str(path)}
    return data


def test_dataset_inside_a_root_is_accepted(client: TestClient, data_root: Path) -> None:
    inside = _npz(data_root / "sets" / "d.npz")
    response = _submit(client, _with_npz(inside))
    assert response.status_code == 201, response.text


def test_dataset_outside_the_roots_is_refused(
    client: TestClient, data_root: Path, tmp_path: Path
) -> None:
    outside = _npz(tmp_path / "elsewhere" / "d.npz")
    escape = data_root / ".." / "elsewhere" / "d.npz"
    link = data_root / "link.npz"
    os.symlink(outside, link)
    folder_link = data_root / "dir"
    os.symlink(outside.parent, folder_link)
    for path in (outside, escape, link, folder_link / "d.npz", "d.npz", "~/d.npz", "/etc/passwd"):
        response = _submit(client, _with_npz(path))
        assert _paths(response) == {"dataset.path"}, path
        [problem] = response.json()["errors"]
        assert problem["value"] == str(path)
        assert str(tmp_path) not in problem["message"]  # nothing about the server's layout
        validated = client.post(f"{API}/spaces/validate", json=_with_npz(path)).json()
        assert validated["ok"] is False and validated["errors"][0]["path"] == "dataset.path"
    assert client.get(f"{API}/searches").json()["total"] == 0


def test_no_roots_refuses_file_datasets_only(db_url: str, tmp_path: Path) -> None:
    with make_client(db_url) as client:
        response = _submit(client, _with_npz(_npz(tmp_path / "d.npz")))
        assert _paths(response) == {"dataset.path"}
        assert "CONVNAS_DATA_ROOTS" in response.json()["errors"][0]["message"]
        assert _submit(client, spec_data("digits")).status_code == 201


def test_the_dataset_check_runs_inside_a_root(client: TestClient, data_root: Path) -> None:
    missing = _submit(client, _with_npz(data_root / "absent.npz"))
    assert _paths(missing) == {"dataset.path"}
    assert "no such file" in missing.json()["errors"][0]["message"]

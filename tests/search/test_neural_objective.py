"""neural_fit as a search objective (issue 14): the spec's checks name the field and value, the
data file is checked at validation like a dataset, and Optuna is told the fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from api.cli import app
from search import service as svc
from search.records.db import create_db_engine
from search.run.study import values_for
from space.errors import SpecError
from space.spec import spec_from_data, spec_from_text
from space.spec.blocks import Objective
from tests.search.search_helpers import spec_data

FIT = {"metric": "neural_fit", "region": "IT"}


def neural_file(
    path: Path,
    *,
    reps: int | None = 3,
    images: int = 20,
    bins: int = 3,
    regions: list[str] | None = None,
) -> Path:
    """A small, valid neural data file (header checks only read its shapes and regions)."""
    rng = np.random.default_rng(0)
    names = regions if regions is not None else ["V4", "V4", "IT", "IT"]
    shape = (images, len(names), bins) if reps is None else (reps, images, len(names), bins)
    arrays: dict[str, Any] = {
        "stimuli": rng.integers(0, 255, (images, 8, 8), dtype=np.uint8),
        "responses": rng.normal(size=shape).astype(np.float32),
        "regions": np.array(names),
    }
    np.savez(path, **arrays)
    return path


def neural_spec(tmp_path: Path, **block: Any) -> dict[str, Any]:
    data = spec_data(objectives=[FIT], scheduler="fifo")
    data["neural"] = {"data": f"neural:{neural_file(tmp_path / 'n.npz')}", **block}
    return data


def problems(data: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(SpecError) as info:
        spec_from_data(data)
    return {p.path: p for p in info.value.problems}


def test_neural_fit_needs_the_neural_block() -> None:
    found = problems(spec_data(objectives=[FIT], scheduler="fifo"))
    problem = found["objectives.0.metric"]
    assert problem.value == "neural_fit" and "neural:" in problem.message


def test_neural_fit_needs_a_region(tmp_path: Path) -> None:
    data = neural_spec(tmp_path)
    data["objectives"] = [{"metric": "neural_fit"}]
    problem = problems(data)["objectives.0.region"]
    assert "region" in problem.message and problem.value is None
    data["neural"]["region"] = "IT"  # the block's region serves the objective
    spec = spec_from_data(data)
    assert spec.neural_region() == ("IT", "neural.region")
    assert spec.neural_config()["region"] == "IT"  # type: ignore[index]
    data["objectives"] = ["val_acc", {"metric": "neural_fit", "region": "IT"}]
    del data["neural"]["region"]  # the objective's own region, named by its place
    assert spec_from_data(data).neural_region() == ("IT", "objectives.1.region")


def test_two_regions_or_a_region_on_another_metric_are_refused(tmp_path: Path) -> None:
    data = neural_spec(tmp_path, region="V4")
    found = problems(data)
    assert found["objectives.0.region"].value == "IT"
    assert "V4" in found["objectives.0.region"].message
    data = spec_data(objectives=[{"metric": "val_acc", "region": "IT"}])
    assert problems(data)["objectives.0.region"].value == "IT"


def test_unknown_layer_and_asha_are_named(tmp_path: Path) -> None:
    data = neural_spec(tmp_path, layers=["conv1", "conv9"])
    data["search"]["scheduler"] = "asha"
    found = problems(data)
    assert found["neural.layers.1"].value == "conv9"
    assert found["search.scheduler"].value == "asha"


def test_neural_fit_defaults_to_fifo_and_max(tmp_path: Path) -> None:
    data = neural_spec(tmp_path)
    del data["search"]["scheduler"]
    spec = spec_from_data(data)
    assert spec.scheduler == "fifo" and spec.objectives[0].direction == "max"
    config = spec.neural_config()
    assert config is not None and config["region"] == "IT"
    assert config["data"].startswith("neural:") and config["data"].endswith("n.npz")
    assert spec_from_data(spec_data()).scheduler == "asha"  # val_acc alone keeps ASHA


def test_a_shorthand_objective_list_parses() -> None:
    text = (
        "name: t\ndataset: digits\ninput: {size: 8, channels: 1}\nclasses: 10\n"
        "layers: [{name: conv1, channels: 4}]\ntime: {steps: 3}\n"
        "objectives: [val_acc, {metric: neural_fit, region: IT}]\n"
        "neural: {data: neural:/nowhere/n.npz}\nsearch: {scheduler: fifo}\n"
    )
    spec = spec_from_text(text)
    assert [o.metric for o in spec.objectives] == ["val_acc", "neural_fit"]


@pytest.mark.parametrize(
    ("change", "path", "value"),
    [
        (lambda d, t: d["neural"].update(data=f"neural:{t / 'missing.npz'}"),
         "neural.data", "missing.npz"),
        (lambda d, t: ((t / "x.npz").write_bytes(b"\x80\x04pickle"),
                       d["neural"].update(data=str(t / "x.npz"))), "neural.data", "x.npz"),
        (lambda d, t: d["neural"].update(data=str(neural_file(t / "one.npz", reps=None))),
         "neural.ceiling", None),
        (lambda d, t: d["neural"].update(data=str(neural_file(t / "v4.npz", regions=["V4"]))),
         "objectives.0.region", "IT"),
        (lambda d, t: d["neural"].update(data=str(neural_file(t / "long.npz", bins=9))),
         "neural.steps_per_bin", 1),
    ],
    ids=["missing", "not-npz", "one-repetition", "unknown-region", "bins-beyond-steps"],
)  # fmt: skip
def test_the_data_file_is_checked_at_validation(
    tmp_path: Path, change: Any, path: str, value: Any
) -> None:
    data = neural_spec(tmp_path)
    assert svc.validate_spec(data).ok  # the valid file passes
    change(data, tmp_path)
    verdict = svc.validate_spec(data)
    assert not verdict.ok
    [problem] = verdict.errors
    assert problem.path == path
    if isinstance(value, str):
        assert str(problem.value).endswith(value)
    else:
        assert problem.value == value
    with pytest.raises(svc.InvalidRequest):  # submit refuses it too (nothing stored)
        svc.submit(svc_engine(tmp_path), data)


def svc_engine(tmp_path: Path) -> Any:
    return create_db_engine(f"sqlite:///{tmp_path / 'c.db'}")


def test_space_validate_names_the_missing_file(tmp_path: Path) -> None:
    import yaml

    data = neural_spec(tmp_path)
    data["neural"]["data"] = f"neural:{tmp_path / 'gone.npz'}"
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["space", "validate", str(spec_file)])
    assert result.exit_code == 1
    assert "neural.data: no such file" in result.output and "gone.npz" in result.output
    assert "Traceback" not in result.output


def test_optuna_is_told_the_fit_and_a_worst_value_for_untrained() -> None:
    objectives = [Objective(metric="val_acc"), Objective.model_validate(FIT)]
    cost = {"params": 100, "flops": 10}
    assert values_for(objectives, {**cost, "val_acc": 0.8, "neural_fit": 0.4}, False) == [0.8, 0.4]
    assert values_for(objectives, {**cost, "val_acc": 0.8, "neural_fit": None}, False) is None
    assert values_for(objectives, cost, True) == [0.0, 0.0]  # rejected or diverged
    nan = {**cost, "val_acc": 0.8, "neural_fit": float("nan")}
    assert values_for(objectives, nan, False) is None

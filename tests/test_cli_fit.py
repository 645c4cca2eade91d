"""``convnas fit`` and ``convnas neural synth`` through the real typer app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from api.cli import app
from space.arch import arch_from_data

runner = CliRunner()

RGC = {"kind": "rgc", "cell_depth": 4, "gate_filter_size": 3, "tau_filter_size": 3}
TINY = {
    "input": {"size": 16, "channels": 1},
    "classes": 4,
    "layers": [
        {"name": "conv1", "channels": 8, "pool": 2},
        {"name": "conv2", "channels": 16, "activation": "identity", "cell": RGC, "pool": 2},
        {"name": "conv3", "channels": 16, "activation": "identity", "cell": RGC},
    ],
    "time": {"steps": 5, "image_off": 3},
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fit")
    arch = folder / "tiny.yaml"
    arch.write_text(arch_from_data(TINY).to_yaml())
    data = folder / "synth.npz"
    args = ["neural", "synth", str(data), "--arch", str(arch), "--input-size", "16"]
    args += ["--layer", "conv2", "--bin", "2", "--bins", "3", "--images", "60", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return {"arch": arch, "data": data}


def run_json(args: list[str]) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_synth_writes_a_loadable_file_with_its_truth(files: dict[str, Path]) -> None:
    with np.load(files["data"], allow_pickle=False) as f:
        assert f["responses"].shape == (4, 60, 40, 3)
        assert f["stimuli"].dtype == np.uint8 and list(f["regions"][:1]) == ["IT"]
    code, truth = run_json(
        ["neural", "synth", str(files["data"].parent / "n.npz"), "--kind", "noise"]
    )
    assert code == 0 and truth["ceiling"] == 0.0 and truth["kind"] == "noise"


def test_fit_json_has_a_row_per_layer_region_and_bin(files: dict[str, Path]) -> None:
    args = ["fit", str(files["arch"]), "--neural", f"neural:{files['data']}", "--layers", "all"]
    code, out = run_json([*args, "--folds", "3", "--components", "5", "--region", "IT"])
    assert code == 0 and out["ok"] is True and out["trained"] is False
    assert len(out["rows"]) == 3 * 3  # layers x bins x one region
    keys = {(r["layer"], r["bin"], r["region"]) for r in out["rows"]}
    assert keys == {(layer, b, "IT") for layer in ("conv1", "conv2", "conv3") for b in range(3)}
    assert all({"raw", "normalized", "bin_ms", "steps"} <= row.keys() for row in out["rows"])
    assert [(c["region"], c["bin"]) for c in out["ceiling"]] == [("IT", b) for b in range(3)]
    assert out["best"]["bin"] == 2 and out["selection"]["max"] == out["best"]["normalized"]
    assert out["objective"] == out["selection"]["nested"]["objective"]  # the default, nested
    assert [h["bin"] for h in out["selection"]["nested"]["halves"]] == [2, 2]
    assert out["seconds"] > 0
    assert out["data"]["split"] == "stratified"  # 60 images of 8 shapes, 3 folds


def test_fit_table_and_best(files: dict[str, Path]) -> None:
    args = ["fit", str(files["arch"]), "--neural", str(files["data"]), "--folds", "3"]
    result = runner.invoke(app, [*args, "--components", "5", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "IT: ceiling-normalised fit" in result.stdout
    assert "best cell for IT: conv2, bin 2" in result.stdout  # 'cells': conv2 and conv3
    assert "nested (chosen on one half, scored on the other)" in result.stdout
    assert "untrained (random init, seed 0)" in result.output


def test_fit_with_trained_weights(files: dict[str, Path], tmp_path: Path) -> None:
    import torch

    from space.nn import build_model

    model = build_model(arch_from_data(TINY), seed=5)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "preprocessing.json").write_text(
        json.dumps({"input_size": 16, "channels": 1, "mean": [0.2], "std": [0.3]})
    )
    args = ["fit", str(files["arch"]), "--neural", str(files["data"]), "--weights", str(tmp_path)]
    code, out = run_json([*args, "--folds", "3", "--components", "5"])
    assert code == 0 and out["trained"] is True and out["weights"].endswith("weights.pt")
    other = TINY | {"layers": [*TINY["layers"][:2]]}
    torch.save(build_model(arch_from_data(other)).state_dict(), tmp_path / "weights.pt")
    code, out = run_json(args)
    assert code == 1 and out["errors"][0]["path"] == "--weights"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--folds", "1"], "--folds"),
        (["--threads", "0"], "--threads: must be at least 1"),
        (["--layers", "conv9"], "neural.layers: no layer 'conv9'"),
        (["--region", "V4"], "neural.region: no such region"),
        (["--steps-per-bin", "3"], "neural.steps_per_bin"),
        (["--neural", "npz:x.npz"], "--neural"),
    ],
)
def test_fit_errors_are_named(files: dict[str, Path], extra: list[str], needle: str) -> None:
    args = ["fit", str(files["arch"]), "--neural", str(files["data"]), *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert needle in result.output and "Traceback" not in result.output


def test_fit_refuses_a_bad_file(tmp_path: Path, files: dict[str, Path]) -> None:
    bad = tmp_path / "bad.npz"
    responses = np.zeros((1, 20, 2, 2))
    np.savez(bad, stimuli=np.zeros((20, 8, 8), dtype=np.uint8), responses=responses)
    code, out = run_json(["fit", str(files["arch"]), "--neural", str(bad)])
    assert code == 1
    assert out["errors"][0]["message"].startswith("neural.responses: one repetition per image")


def test_averaged_responses_with_a_given_ceiling(tmp_path: Path, files: dict[str, Path]) -> None:
    with np.load(files["data"], allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["responses"] = arrays["responses"].mean(axis=0)  # [N, neurons, bins]
    averaged = tmp_path / "averaged.npz"
    np.savez(averaged, **arrays)
    args = ["fit", str(files["arch"]), "--neural", str(averaged), "--folds", "3"]
    code, out = run_json([*args, "--components", "5", "--ceiling", "0.8"])
    assert code == 0
    assert {(c["value"], c["source"]) for c in out["ceiling"]} == {(0.8, "given")}
    assert all(r["normalized"] == pytest.approx(r["raw"] / 0.8) for r in out["rows"])

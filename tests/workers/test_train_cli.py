from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def _arch_file(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_train_prints_json_and_saves(tiny_data: Any, tmp_path: Path) -> None:
    arch = _arch_file(tmp_path, tiny_data())
    save = tmp_path / "best"
    args = ["train", str(arch), "--dataset", "digits:limit=256", "--epochs", "2", "--json"]
    result = runner.invoke(app, [*args, "--save", str(save)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] and payload["status"] == "completed"
    assert [m["epoch"] for m in payload["history"]] == [1, 2]
    assert len(payload["history"][-1]["val_acc_per_step"]) == 4
    # The search commands' names: val_acc = the best epoch's, last_val_acc = the final one's.
    assert payload["val_acc"] == max(m["val_acc"] for m in payload["history"])
    assert payload["last_val_acc"] == payload["history"][-1]["val_acc"]
    assert "best_val_acc" not in payload
    assert {p.name for p in save.iterdir()} >= {
        "weights.pt",
        "arch.yaml",
        "result.json",
        "preprocessing.json",
    }
    # How to prepare inputs for the saved weights travels with them.
    prep = json.loads((save / "preprocessing.json").read_text())
    assert (
        prep
        == payload["preprocessing"]
        == json.loads((save / "result.json").read_text())["preprocessing"]
    )
    assert (prep["input_size"], prep["channels"], len(prep["mean"])) == (8, 1, 1)


def test_train_table_and_overrides(tiny_data: Any, tmp_path: Path) -> None:
    arch = _arch_file(tmp_path, tiny_data())
    args = ["train", str(arch), "-d", "shapes:samples=64", "--classes", "4", "--input-size", "12"]
    result = runner.invoke(app, [*args, "--max-steps", "2"])
    assert result.exit_code == 0, result.output
    assert "val_acc" in result.stdout and "last_val_acc" in result.stdout
    assert "best val acc" not in result.stdout and "completed" in result.stdout


def test_train_errors_are_readable(tiny_data: Any, tmp_path: Path) -> None:
    arch = _arch_file(tmp_path, tiny_data())
    result = runner.invoke(app, ["train", str(arch), "--dataset", "pathfinder"])
    assert result.exit_code == 1
    assert "classes" in result.output and "--classes" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["train", "no_such_preset", "--dataset", "digits"])
    assert result.exit_code == 1 and "valid presets" in result.output
    result = runner.invoke(app, ["train", str(arch), "--dataset", "digits", "--lr", "-1", "--json"])
    assert result.exit_code == 1 and "training.lr" in result.stdout


def test_diverging_run_exits_nonzero(tiny_data: Any, tmp_path: Path) -> None:
    arch = _arch_file(tmp_path, tiny_data(optimizer="sgd", lr=10.0, grad_clip=None))
    result = runner.invoke(app, ["train", str(arch), "-d", "digits:limit=256", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "diverged"


def test_channel_conversion_is_announced(tiny_data: Any, tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    rgb = tmp_path / "rgb.npz"
    np.savez(rgb, x=rng.integers(0, 256, (60, 8, 8, 3), dtype=np.uint8), y=np.arange(60) % 10)
    arch = _arch_file(tmp_path, tiny_data())  # 1 channel
    args = ["train", str(arch), "-d", f"npz:{rgb}", "--max-steps", "1", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    note = "the dataset's images have 3 channel(s) but the arch takes 1"
    assert note in result.output and "--channels 3" in result.output
    assert note not in result.stdout  # on stderr: --json output stays parseable
    json.loads(result.stdout)
    result = runner.invoke(app, [*args, "--channels", "3"])
    assert result.exit_code == 0 and note not in result.output, result.output


def test_nonsense_numbers_are_refused_by_flag(tiny_data: Any, tmp_path: Path) -> None:
    """``--classes 0`` etc. were silently ignored (0 read as "not given"); ``--seed -1``
    crashed. Each is now a named error and a non-zero exit, before any data is loaded."""
    arch = _arch_file(tmp_path, tiny_data())
    cases = {
        "--seed": ("-1", "must lie in 0..9223372036854775807"),
        "--classes": ("0", "must be at least 2"),
        "--input-size": ("0", "must be at least 1"),
        "--channels": ("0", "must be at least 1"),
    }
    for flag, (value, words) in cases.items():
        args = ["train", str(arch), "--dataset", "digits", flag, value, "--json"]
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (flag, result.output)
        errors = json.loads(result.stdout)["errors"]
        assert errors[0]["path"] == flag and words in errors[0]["message"], errors
        assert errors[0]["value"] == int(value)
    result = runner.invoke(app, ["train", str(arch), "-d", "digits", "--seed", "-1"])
    assert result.exit_code == 1 and "--seed: must lie in 0.." in result.output
    assert "Traceback" not in result.output


def test_help_states_the_pixel_limit() -> None:
    from workers.data.files import MAX_IMAGE_PIXELS

    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert MAX_IMAGE_PIXELS == 4096 * 4096 and "4096x4096 pixels" in result.output

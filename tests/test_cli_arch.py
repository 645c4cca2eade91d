"""``convnas arch summary`` and ``convnas presets`` through the real typer app."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from space.arch import arch_from_data
from space.cost import cost
from space.presets import load_preset, preset_names

runner = CliRunner()

TINY = {
    "input": {"size": 16, "channels": 3},
    "classes": 10,
    "layers": [
        {"name": "conv1", "channels": 8, "pool": 2},
        {"name": "conv2", "channels": 8, "cell": {"kind": "rgc", "cell_depth": 4}},
        {"name": "conv3", "channels": 16, "cell": {"kind": "gru"}},
    ],
    "feedback": [{"source": "conv3", "target": "conv2"}],
    "time": {"steps": 4},
}


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(arch_from_data(TINY).to_yaml())
    return path


def test_summary_of_a_preset() -> None:
    result = runner.invoke(app, ["arch", "summary", "rgc_intermediate"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    expected = cost(load_preset("rgc_intermediate"))
    assert f"{expected.params:,}" in out and "15.4M" in out
    assert f"{expected.flops:,}" in out
    assert expected.arch_hash in out
    assert "T=17" in out and "image on steps 0-11" in out
    assert "conv7, conv9" in out  # conv6's incoming feedback
    for name in ("conv1", "conv10", "readout"):
        assert name in out


def test_summary_json_of_a_file(tiny_file: Path) -> None:
    result = runner.invoke(app, ["arch", "summary", str(tiny_file), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    expected = cost(arch_from_data(TINY))
    assert data["params"] == expected.params
    assert data["flops"] == expected.flops == 4 * expected.macs_per_step
    assert data["activation_bytes"] == expected.activation_bytes
    assert data["arch_hash"] == expected.arch_hash
    assert data["time"]["steps"] == 4
    assert [layer["first_signal"] for layer in data["layers"]] == [0, 1, 2]
    assert data["layers"][1]["feedback_from"] == ["conv3"]
    assert data["layers"][1]["cell"] == "rgc"
    assert data["readout_first_step"] == 3
    assert "check" not in data


def test_summary_check_agrees_with_torch(tiny_file: Path) -> None:
    pytest.importorskip("torch")
    result = runner.invoke(app, ["arch", "summary", str(tiny_file), "--check", "--json"])
    assert result.exit_code == 0, result.output
    check = json.loads(result.stdout)["check"]
    assert check["ok"] and check["torch_params"] == check["analytic_params"]
    text = runner.invoke(app, ["arch", "summary", str(tiny_file), "--check"])
    assert text.exit_code == 0 and ": OK" in text.stdout


def test_summary_check_without_torch_is_a_clear_error(
    tiny_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "space.nn", None)  # makes `import space.nn` fail
    result = runner.invoke(app, ["arch", "summary", str(tiny_file), "--check"])
    assert result.exit_code == 1
    assert "--check needs torch and space.nn" in result.stderr
    assert "Traceback" not in result.output


def test_summary_of_an_unknown_preset_lists_the_presets() -> None:
    result = runner.invoke(app, ["arch", "summary", "rgc_giant"])
    assert result.exit_code == 1
    assert "rgc_giant" in result.stderr and "rgc_intermediate" in result.stderr
    assert "Traceback" not in result.output
    as_json = runner.invoke(app, ["arch", "summary", "rgc_giant", "--json"])
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["ok"] is False and "lstm_shallow" in data["errors"][0]["message"]


def test_summary_of_a_bad_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("input: {size: 16, channels: 3}\nclasses: 10\nlayers: []\n")
    result = runner.invoke(app, ["arch", "summary", str(path)])
    assert result.exit_code == 1
    assert "layers" in result.stderr and "Traceback" not in result.output


def test_summary_of_a_search_spec_says_to_sample_first(tmp_path: Path) -> None:
    quickstart = Path(__file__).resolve().parents[1] / "examples" / "quickstart.yaml"
    result = runner.invoke(app, ["arch", "summary", str(quickstart)])
    assert result.exit_code == 1
    assert "this is a search spec" in result.stderr and "convnas space sample" in result.stderr
    assert result.stderr.startswith("1 problem")  # one clear message, not pydantic's dozen
    searched = tmp_path / "searched.yaml"  # no spec-only key, but a searched leaf
    searched.write_text(
        "input: {size: 16, channels: 3}\nclasses: 10\n"
        "layers: [{name: a, channels: {choice: [4, 8]}}]\n"
    )
    result = runner.invoke(app, ["arch", "summary", str(searched)])
    assert result.exit_code == 1 and "search spec" in result.stderr


def test_presets_table() -> None:
    result = runner.invoke(app, ["presets"])
    assert result.exit_code == 0, result.output
    for name in preset_names():
        assert name in result.stdout
    assert "15.4M" in result.stdout  # rgc_intermediate's params
    assert "FLOPs (MACs)" in result.stdout and "conv layers" in result.stdout


def test_presets_json() -> None:
    result = runner.invoke(app, ["presets", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert sorted(rows) == preset_names()
    rgc = rows["rgc_intermediate"]
    assert rgc["feedback_edges"] == 5 and rgc["cells"] == 7 and rgc["layers"] == 10
    assert rgc["params"] == cost(load_preset("rgc_intermediate")).params
    assert rows["ff_shallow"]["cells"] == 0 and rows["ff_shallow"]["description"]


@pytest.mark.slow
@pytest.mark.parametrize("name", preset_names())
def test_summary_check_of_every_preset(name: str) -> None:
    pytest.importorskip("torch")
    result = runner.invoke(app, ["arch", "summary", name, "--check", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["check"]["ok"]


def test_graph_refuses_an_output_that_is_not_svg(tmp_path: Path) -> None:
    png = tmp_path / "g.png"
    result = runner.invoke(app, ["arch", "graph", "ff_shallow", "-o", str(png)])
    assert result.exit_code == 2, result.output
    message = flat(result.output)
    assert "--output" in message and f"(got '{png}')" in message and ".svg" in message
    assert not png.exists()
    svg = tmp_path / "g.svg"
    result = runner.invoke(app, ["arch", "graph", "ff_shallow", "-o", str(svg)])
    assert result.exit_code == 0, result.output
    assert svg.read_text().startswith("<svg")


def flat(output: str) -> str:
    """Typer's error box without its borders and line breaks (it wraps at 80 columns)."""
    return " ".join(word for word in output.split() if word not in ("│", "╭─", "╰─"))

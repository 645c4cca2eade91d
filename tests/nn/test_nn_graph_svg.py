"""The SVG layer graph and ``convnas arch graph``."""

from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from space.arch import Arch, save_arch
from space.graph import layer_shapes
from space.graph_svg import render_svg
from space.presets import list_presets, load_preset
from tests.nn.nn_archs import with_feedback

SVG = "{http://www.w3.org/2000/svg}"


def _check_svg(text: str, arch: Arch) -> None:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    nodes = {g.get("data-name"): g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "")}
    assert set(nodes) == {"image", "readout", *(layer.name for layer in arch.layers)}
    for layer, shape in zip(arch.layers, layer_shapes(arch), strict=True):
        texts = " ".join(t.text or "" for t in nodes[layer.name].iter(f"{SVG}text"))
        assert layer.cell.kind in texts and f"{shape.out_channels} ch" in texts, texts
    ff = {
        (p.get("data-source"), p.get("data-target"))
        for p in root.iter(f"{SVG}path")
        if "feedforward" in p.get("class", "")
    }
    names = ["image", *(layer.name for layer in arch.layers), "readout"]
    assert ff == set(itertools.pairwise(names))
    fb = [g for g in root.iter(f"{SVG}g") if "feedback" in g.get("class", "")]
    assert sorted(
        (g.get("data-source"), g.get("data-target"), g.get("data-entry")) for g in fb
    ) == (sorted((e.source, e.target, e.entry) for e in arch.feedback))
    for g in fb:
        label = " ".join(t.text or "" for t in g.iter(f"{SVG}text"))
        assert f"-> {g.get('data-entry')}" in label


def test_svg_of_feedback_arch_has_every_layer_and_edge() -> None:
    arch = with_feedback()
    _check_svg(render_svg(arch), arch)


def test_svg_of_every_preset_parses() -> None:
    for info in list_presets():
        _check_svg(render_svg(load_preset(info.name)), load_preset(info.name))


def test_cli_writes_svg_for_preset_and_file(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "g.svg"
    result = runner.invoke(app, ["arch", "graph", "rgc_intermediate", "-o", str(out)])
    assert result.exit_code == 0, result.output
    _check_svg(out.read_text(), load_preset("rgc_intermediate"))
    arch_file = tmp_path / "fb.yaml"
    save_arch(with_feedback(), arch_file)
    result = runner.invoke(app, ["arch", "graph", str(arch_file)])
    assert result.exit_code == 0
    _check_svg(result.stdout, with_feedback())
    result = runner.invoke(app, ["arch", "graph", str(arch_file), "--json"])
    data = json.loads(result.stdout)
    assert len(data["feedback"]) == 5 and data["nodes"][0]["name"] == "image"


def test_cli_unknown_arch_is_a_clean_error() -> None:
    result = CliRunner().invoke(app, ["arch", "graph", "no_such_preset"])
    assert result.exit_code == 1
    assert "unknown preset" in result.output and "Traceback" not in result.output

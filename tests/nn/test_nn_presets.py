"""Presets and sampled archs: exact parameter counts, round-trips, the full-size RGC forward."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from space.arch import Arch, arch_from_data
from space.inventory import param_count
from space.nn import ConvRNN, build_model
from space.presets import list_presets, load_preset
from tests.nn.nn_archs import images

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
SAMPLES = 50


def _count_on_meta(arch: Arch) -> int:
    """Parameter count of the built model without allocating its weights."""
    with torch.device("meta"):
        model = ConvRNN(arch)
    return sum(p.numel() for p in model.parameters())


def test_presets_exist() -> None:
    names = {p.name for p in list_presets()}
    assert {"rgc_intermediate", "rgc_shallow", "lstm_shallow", "ff_intermediate"} <= names


@pytest.mark.parametrize("name", [p.name for p in list_presets()])
def test_preset_params_equal_analytic_count(name: str) -> None:
    arch = load_preset(name)
    assert _count_on_meta(arch) == param_count(arch)


def test_meta_count_equals_real_count() -> None:
    arch = load_preset("rgc_shallow")
    assert sum(p.numel() for p in build_model(arch).parameters()) == _count_on_meta(arch)


@pytest.mark.parametrize("spec_path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_random_samples_params_equal_analytic_count(spec_path: Path) -> None:
    sampling = pytest.importorskip("space.sampling")
    spec = pytest.importorskip("space.spec").load_spec(spec_path)
    kinds = set()
    for seed in range(SAMPLES):
        arch = sampling.freeze(spec, sampling.RandomSampler(seed))
        kinds |= {layer.cell.kind for layer in arch.layers}
        assert _count_on_meta(arch) == param_count(arch), (spec_path.stem, seed)
    assert kinds  # the samples did cover cells


@pytest.mark.parametrize("spec_path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_a_few_samples_run_forward_backward_at_small_size(spec_path: Path) -> None:
    sampling = pytest.importorskip("space.sampling")
    spec = pytest.importorskip("space.spec").load_spec(spec_path)
    for seed in range(3):
        arch = _small(sampling.freeze(spec, sampling.RandomSampler(seed)))
        model = build_model(arch, seed=seed)
        out = model(images(1, size=arch.input.size))
        out.decoded.sum().backward()
        assert torch.isfinite(out.logits).all()


def _small(arch: Arch, size: int = 32, extra_steps: int = 2) -> Arch:
    """The same graph at a small input, fewer channels and steps (for fast smoke runs)."""
    data = arch.to_dict()
    data["input"]["size"] = min(size, data["input"]["size"])
    data["input"]["channels"] = 3
    for layer in data["layers"]:
        layer["channels"] = max(2, layer["channels"] // 16)
        cell = layer["cell"]
        for key in ("depth", "cell_depth"):
            if cell.get(key):
                cell[key] = max(1, cell[key] // 16)
    if data["head"]["kind"] == "conv" and data["head"].get("padding") == "valid":
        data["head"]["kernel"] = 1  # the small input leaves a 1x1 final map
    data["time"] = {**data["time"], "steps": len(data["layers"]) + extra_steps, "image_off": None}
    if data["time"]["readout"].get("kind") == "mean":
        data["time"]["readout"] = {"kind": "mean"}
    return arch_from_data(data)


@pytest.mark.parametrize("name", [p.name for p in list_presets()])
def test_preset_graphs_run_forward_backward_small(name: str) -> None:
    arch = _small(load_preset(name))
    model = build_model(arch, seed=0)
    out = model(images(2, size=arch.input.size))
    assert out.logits.shape == (arch.time.steps, 2, arch.classes)
    out.decoded.logsumexp(-1).sum().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def test_rgc_intermediate_full_size_forward() -> None:
    arch = load_preset("rgc_intermediate")
    assert arch.time.steps == 17 and arch.input.size == 224
    model = build_model(arch, seed=0)
    start = time.perf_counter()
    with torch.no_grad():
        out = model(images(1, size=224), return_features=True)
    elapsed = time.perf_counter() - start
    assert out.logits.shape == (17, 1, 1000) and torch.isfinite(out.logits).all()
    assert out.features is not None and out.features["conv10"].shape == (17, 1, 512, 4, 4)
    assert elapsed < 60, f"one 224 px image over 17 steps took {elapsed:.1f} s"


ROUND_TRIP = """
import sys, torch
from space.arch import load_arch
from space.inventory import param_count
from space.nn import build_model
for path in sys.argv[1:]:
    arch = load_arch(path)
    with torch.device("meta"):
        model = build_model(arch)
    assert sum(p.numel() for p in model.parameters()) == param_count(arch), path
heavy = sorted(m for m in ("optuna", "ray", "sqlalchemy", "fastapi", "search", "workers", "api")
               if m in sys.modules)
print("HEAVY", heavy)
"""


def test_every_preset_file_round_trips_with_space_and_torch_alone(tmp_path: Path) -> None:
    from space.arch import save_arch

    paths = [p.path for p in list_presets()]
    exported = tmp_path / "exported.json"
    save_arch(load_preset("rgc_intermediate"), exported)
    result = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP, *map(str, [*paths, exported])],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout, result.stdout

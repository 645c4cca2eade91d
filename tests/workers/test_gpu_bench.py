"""bench/gpu_smoke.py: without a GPU it says so and exits 0; its measuring code runs on the CPU
here (the same function a GPU run calls), so it cannot rot unnoticed on machines without one."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_smoke", ROOT / "bench" / "gpu_smoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "bench/gpu_smoke.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_it_says_so_and_exits_0() -> None:
    as_json = run("--smoke", "--json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["cuda"] is False and "no CUDA device" in doc["message"]
    assert doc["settings"]["batch"] == 8 and doc["settings"]["smoke"] is True
    text = run("--smoke")
    assert text.returncode == 0 and text.stdout.startswith("no CUDA device"), text.stderr


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        bench().parse_args(["--steps", "0"])
    assert info.value.code == 2 and "--steps" in capsys.readouterr().err


def test_the_measurement_runs_on_the_cpu(tiny: Any) -> None:
    gpu_smoke = bench()
    args = gpu_smoke.parse_args(["--smoke"])
    arch = tiny(size=8)
    row = gpu_smoke.run_one(arch, "auto", args, device="cpu", gpu_memory=8 * 2**30)
    assert row["status"] == "completed" and row["precision"] == "float32"  # no autocast on CPU
    assert row["steps_timed"] == args.steps and row["images_per_s"] > 0
    assert row["peak_memory"] is None and row["peak_over_estimate"] is None
    assert row["peak_reserved"] is None and row["reserved_over_estimate"] is None
    assert row["memory_estimate"] > 0 and row["gpu_share"] == 0.1  # tiny: the floor
    assert row["layout"] == "channels_last"
    nchw = gpu_smoke.run_one(arch, "off", args, "cpu", 8 * 2**30, channels_last=False)
    assert nchw["status"] == "completed" and nchw["layout"] == "nchw"

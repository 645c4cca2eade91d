"""Tiny archs and an isolated data cache for the workers tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from space.arch import Arch, arch_from_data


@pytest.fixture(autouse=True)
def data_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Generated datasets go to a per-session folder, never the user's cache."""
    folder = tmp_path_factory.getbasetemp() / "convnas-data"
    monkeypatch.setenv("CONVNAS_DATA_DIR", str(folder))
    # one torch thread: tiny models on a shared 2-core machine run far faster without contention
    monkeypatch.setenv("CONVNAS_THREADS", "1")
    return folder


def tiny_arch_data(
    size: int = 8, channels: int = 1, classes: int = 10, cell: str = "rgc", **training: Any
) -> dict[str, Any]:
    cells: dict[str, Any] = {
        "rgc": {"kind": "rgc", "cell_depth": 4, "gate_filter_size": 3, "tau_filter_size": 3},
        "lstm": {"kind": "lstm"},
        "none": {"kind": "none"},
    }
    return {
        "input": {"size": size, "channels": channels},
        "classes": classes,
        "layers": [
            {"name": "conv1", "channels": 16, "kernel": 3, "pool": 2},
            {
                "name": "conv2",
                "channels": 16,
                "kernel": 3,
                "activation": "identity",
                "cell": cells[cell],
            },
        ],
        "time": {"steps": 4, "readout": "last"},
        "training": {"optimizer": "adam", "lr": 0.02, "batch_size": 32, "epochs": 2, **training},
    }


def tiny_arch(**kwargs: Any) -> Arch:
    return arch_from_data(tiny_arch_data(**kwargs))


@pytest.fixture(name="tiny")
def tiny_fixture() -> Any:
    """A factory of tiny archs (8 px digits by default): ``tiny(cell="lstm", lr=0.1)``."""
    return tiny_arch


@pytest.fixture(name="tiny_data")
def tiny_data_fixture() -> Any:
    """A factory of tiny arch dicts, for configs that travel as plain data."""
    return tiny_arch_data

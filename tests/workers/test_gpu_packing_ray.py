"""Cost-aware packing through real Ray Tune: a local Ray that advertises one (fake) GPU, a search
with ``gpu: auto``: every trial asks for the share its estimate needs, Ray assigns it, the
trainable (on the CPU: torch sees no CUDA) reports it, and the ledger records it with the
estimate. No GPU is needed; what a GPU adds (peak memory) is bench/gpu_smoke.py's part."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from search.records.db import Trial, create_db_engine, session_scope
from search.records.lifecycle import create_search
from search.run.driver import run_search
from search.run.resources import TrialResources, config_memory_estimate
from space.spec import spec_from_data

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def fake_gpu_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def spec_data() -> dict[str, Any]:
    return {
        "name": "packing",
        "dataset": {"name": "digits", "limit": 128},
        "input": {"size": 8, "channels": 1},
        "classes": 10,
        "layers": [
            {"name": "conv1", "channels": {"choice": [4, 8]}, "kernel": 3, "pool": 2},
            {"name": "conv2", "channels": 8, "kernel": 3, "optional": True},
        ],
        "time": {"steps": 3},
        "training": {"lr": 0.1, "batch_size": 32, "epochs": 1},
        "search": {
            "trials": 3,
            "concurrency": 2,
            "scheduler": "fifo",
            "seed": 0,
            # a 16 MiB "GPU": these tiny candidates need a fifth to a third of it
            "resources": {
                "gpu": "auto",
                "gpu_memory": "16MiB",
                "gpu_overhead": "1MiB",
                "min_gpu_share": 0.05,
            },
        },
    }


def test_each_trial_gets_and_records_the_share_its_estimate_needs(
    fake_gpu_ray: None, tmp_path: Path
) -> None:
    spec = spec_from_data(spec_data())
    engine = create_db_engine(f"sqlite:///{tmp_path / 'convnas.db'}")
    search_id = create_search(engine, spec)
    outcome = run_search(engine, search_id, runs_dir=tmp_path / "runs")
    assert outcome.status == "succeeded" and outcome.finished == 3, outcome
    plan = TrialResources.from_settings(spec.search.resources, 1.0, 16 * 2**20)
    with session_scope(engine) as s:
        rows = s.scalars(select(Trial).where(Trial.search_id == search_id)).all()
        trained = [r for r in rows if r.status == "completed"]
        assert trained
        for row in trained:
            config = {"arch": row.arch, "dataset": spec.dataset.to_ref()}
            # what Ray assigned (reported by the trainable) is what the estimate asked for
            assert row.gpu_share == pytest.approx(plan.share(config)), row.number
            assert 0.05 < row.gpu_share < 1
            assert row.memory_estimate == config_memory_estimate(config)
            assert row.peak_memory is None  # trained on the CPU
    engine.dispose()


def test_without_gpu_memory_it_is_read_from_a_gpu_or_the_search_fails_naming_it(
    fake_gpu_ray: None, tmp_path: Path
) -> None:
    """The probe runs a tiny task on a GPU of the cluster; this "GPU" has no CUDA behind it, so
    the search fails before any trial, naming the setting to give."""
    from search.records.db import Search
    from search.run.resources import ResourceError

    data = spec_data()
    del data["search"]["resources"]["gpu_memory"]
    spec = spec_from_data(data)
    engine = create_db_engine(f"sqlite:///{tmp_path / 'convnas.db'}")
    search_id = create_search(engine, spec)
    with pytest.raises(ResourceError, match=r"search\.resources\.gpu_memory: could not read"):
        run_search(engine, search_id, runs_dir=tmp_path / "runs")
    with session_scope(engine) as s:
        search = s.get(Search, search_id)
        assert search is not None and search.status == "failed"
        assert search.error is not None and "search.resources.gpu_memory" in search.error
        assert not s.scalars(select(Trial).where(Trial.search_id == search_id)).all()
    engine.dispose()

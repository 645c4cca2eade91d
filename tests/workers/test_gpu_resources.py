"""Per-trial GPU resources: the resource callable Tune gets for gpu: auto, the device a trial
trains on, the allocator cap, and the estimate against what autograd really keeps (CPU)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import torch

from search.run import resources as R
from space.errors import SpecError
from space.packing import trials_per_gpu
from space.spec import spec_from_data
from workers.config import TrainConfig, TrialGpu, memory_estimate, trial_gpu_from_data
from workers.trainable import place_on_device

GiB = 2**30


def spec(**resources: Any) -> Any:
    return spec_from_data(
        {
            "name": "r",
            "dataset": "digits",
            "input": {"size": 8, "channels": 1},
            "classes": 10,
            "layers": [{"name": "conv1", "channels": 4, "kernel": 3}],
            "time": {"steps": 2},
            "search": {"resources": resources},
        }
    )


def config(arch: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"arch": arch, "dataset": "digits", **extra}


def test_gpu_auto_gives_tune_a_callable_of_the_trial_config(tiny_data: Any) -> None:
    plan = R.trial_resources(spec(gpu="auto", gpu_memory="8GiB"), 4.0, 1.0)
    assert isinstance(plan, R.TrialResources) and plan.gpu_memory == 8 * GiB
    small = config(tiny_data())
    big = config(tiny_data(size=64, batch_size=4096))
    assert plan.share(small) == 0.1  # the floor: ten small trials to a GPU
    assert 0.1 < plan.share(big) <= 1.0 and plan.share(big) > plan.share(small)
    factory = plan(big)
    assert factory.bundles == [{"CPU": 1.0, "GPU": plan.share(big)}]
    # what Tune does with it (Ray 2.60: with_resources keeps the callable, the function
    # trainable's default_resource_request calls it with the trial's config)
    from ray import tune
    from ray.tune.trainable.function_trainable import wrap_function

    def fn(config: dict[str, Any]) -> None:
        return None

    wrapped = wrap_function(tune.with_resources(fn, plan))
    assert wrapped.default_resource_request(big).bundles == factory.bundles


def test_the_share_follows_the_batch_size_override(tiny_data: Any) -> None:
    plan = R.trial_resources(spec(gpu="auto", gpu_memory="4GiB", gpu_overhead="1MiB"), 2.0, 1.0)
    arch = tiny_data(size=32)
    shares = [plan.share(config(arch, training={"batch_size": b})) for b in (256, 512, 16384)]
    assert shares[0] < shares[1] < shares[2] == 1.0
    assert trials_per_gpu(shares[0]) > trials_per_gpu(shares[1])


def test_a_requested_share_wins_and_a_bad_config_gets_the_floor(tiny_data: Any) -> None:
    plan = R.trial_resources(spec(gpu="auto", gpu_memory="8GiB", min_gpu_share=0.2), 1.0, 2.0)
    assert plan.share(config(tiny_data(), resources={"gpu_share": 0.5})) == 0.5
    assert plan.share({"arch": {"nonsense": 1}, "dataset": "digits"}) == 0.2
    assert plan.share({}) == 0.2


def test_no_gpu_in_the_cluster_means_cpu_with_a_notice(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="search.run.resources"):
        assert R.trial_resources(spec(gpu="auto"), 8.0, 0.0) == {"cpu": 1.0, "gpu": 0.0}
        assert R.trial_resources(spec(gpu=0.5), 8.0, 0.0) == {"cpu": 1.0, "gpu": 0.0}
    assert "no GPU" in caplog.text
    assert R.trial_resources(spec(gpu=0.25, cpu=2.0), 8.0, 1.0) == {"cpu": 2.0, "gpu": 0.25}
    assert R.trial_resources(spec(cpu=16.0), 4.0, 0.0)["cpu"] == 4.0  # fitted to the cluster


def test_trial_settings_travel_in_the_config() -> None:
    plain = R.with_trial_settings(spec(), {"checkpoint": True})
    assert plain["checkpoint"] is True and "training" not in plain
    assert plain["resources"] == {"limit_memory": True, "gpu_overhead": 512 * 2**20}
    tuned = R.with_trial_settings(
        spec(compile=True, limit_memory=False), {"training": {"epochs": 1}}
    )
    assert tuned["training"] == {"compile": True, "epochs": 1}
    assert tuned["resources"]["limit_memory"] is False
    assert trial_gpu_from_data(tuned["resources"]) == TrialGpu(limit_memory=False)
    fp32 = R.with_trial_settings(spec(amp="off", channels_last=False), {})
    assert fp32["training"] == {"amp": "off", "channels_last": False}


def test_amp_off_in_the_spec_reaches_the_trial_and_its_memory_estimate(tiny_data: Any) -> None:
    """search.resources.amp: off trains in fp32, and the estimate a GPU share is packed by
    follows it (no low-precision copies of the weights)."""
    from workers.config import TrainConfig, memory_estimate
    from workers.trainable import parse_trial_config

    base = config(tiny_data())
    arch, auto_cfg, _, _ = parse_trial_config(R.with_trial_settings(spec(), base))
    _, off_cfg, _, _ = parse_trial_config(R.with_trial_settings(spec(amp="off"), base))
    assert (auto_cfg.amp, off_cfg.amp) == ("auto", "off")
    assert isinstance(off_cfg, TrainConfig)
    auto, off = (
        memory_estimate(arch, auto_cfg, cuda=True),
        memory_estimate(arch, off_cfg, cuda=True),
    )
    assert auto.amp_weights > 0 and off.amp_weights == 0


def test_oom_retry_share_doubles_once_up_to_a_whole_gpu(tiny_data: Any) -> None:
    on, off = spec(gpu="auto", oom_retry=True), spec(gpu="auto")
    oom = {"status": "out_of_memory", "gpu_share": 0.3}
    first = config(tiny_data())
    assert R.oom_retry_share(on, first, oom) == 0.6
    assert R.oom_retry_share(on, first, {**oom, "gpu_share": 0.7}) == 1.0
    assert R.oom_retry_share(off, first, oom) is None  # not asked for
    assert R.oom_retry_share(on, first, {**oom, "gpu_share": 1.0}) is None  # nothing larger
    assert R.oom_retry_share(on, first, {**oom, "gpu_share": 0.0}) is None  # CPU
    assert R.oom_retry_share(on, first, {**oom, "status": "failed"}) is None
    retry = R.retry_config(first, 0.6)
    assert retry["resources"]["gpu_share"] == 0.6 and retry["arch"] == first["arch"]
    assert R.oom_retry_share(on, retry, oom) is None  # a retry is not retried again


def test_memory_fraction_caps_a_shared_gpu_only() -> None:
    gpu = TrialGpu(gpu_overhead=GiB)
    assert gpu.memory_fraction(0.5, 16 * GiB) == pytest.approx(0.5 - 1 / 16)
    assert gpu.memory_fraction(0.1, 4 * GiB) == 0.05  # never below half the share
    assert gpu.memory_fraction(1.0, 16 * GiB) is None
    assert TrialGpu(limit_memory=False).memory_fraction(0.5, 16 * GiB) is None
    with pytest.raises(SpecError, match=r"config\.resources\.gpu_share"):
        trial_gpu_from_data({"gpu_share": 2})


def test_the_trial_trains_where_ray_put_it(tiny: Any, caplog: pytest.LogCaptureFixture) -> None:
    cfg = TrainConfig.for_arch(tiny())
    gpu = TrialGpu()
    assert place_on_device(cfg, gpu, None).device == "auto"  # outside Ray: unchanged
    assert place_on_device(cfg, gpu, 0.0).device == "cpu"  # no share: not the node's GPUs
    with caplog.at_level(logging.WARNING, logger="workers.trainable"):
        placed = place_on_device(cfg, gpu, 0.25)
    if torch.cuda.is_available():
        assert placed.device == "cuda" and placed.memory_fraction is not None
    else:
        assert placed.device == "cpu" and "no CUDA" in caplog.text


def _saved_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of the unique storages autograd saves for backward (parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = t.untyped_storage().data_ptr()
        seen[key] = max(seen.get(key, 0), t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(size for key, size in seen.items() if key not in params)


@pytest.mark.parametrize("cell", ["rgc", "lstm", "none"])
def test_the_estimate_covers_what_autograd_keeps(tiny: Any, cell: str) -> None:
    from space.nn import build_model

    arch = tiny(size=16, cell=cell, batch_size=4)
    est = memory_estimate(arch, TrainConfig.for_arch(arch), cuda=False)
    saved = _saved_bytes(build_model(arch), torch.randn(4, 1, 16, 16))
    # an upper figure, but not a wild one (the packing would waste the GPU)
    assert saved <= est.train_activations <= 3 * saved

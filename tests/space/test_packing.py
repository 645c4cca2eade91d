"""Cost-aware packing (space.packing): the memory estimate and the GPU share it asks for."""

from __future__ import annotations

from typing import Any

import pytest

from space.arch import Arch, arch_from_data
from space.cost import cost
from space.packing import (
    AMP_PARAM_BYTES,
    AUTOGRAD_FACTOR,
    PARAM_BYTES,
    estimate_memory,
    gpu_share,
    round_up_share,
    trials_per_gpu,
)
from space.spec import spec_from_data
from space.spec.blocks import Resources

GiB = 2**30
MiB = 2**20


def arch(size: int = 16, channels: int = 16, layers: int = 2, cell: str = "lstm") -> Arch:
    data: dict[str, Any] = {
        "input": {"size": size, "channels": 3},
        "classes": 10,
        "layers": [
            {"name": f"conv{i}", "channels": channels, "kernel": 3, "cell": {"kind": cell}}
            for i in range(1, layers + 1)
        ],
        "time": {"steps": 6},
    }
    return arch_from_data(data)


def share_of(a: Arch, batch: int, gpu_memory: int = 80 * GiB, **kw: Any) -> Any:
    estimate = estimate_memory(cost(a), batch_size=batch, eval_batch_size=max(batch, 256))
    options: dict[str, Any] = {"safety_factor": 1.5, "overhead": 512 * MiB, "floor": 0.1}
    return estimate, gpu_share(estimate.total, gpu_memory, **(options | kw))


def test_estimate_parts_follow_params_optimizer_amp_and_batch() -> None:
    c = cost(arch())
    sgd = estimate_memory(c, batch_size=32, eval_batch_size=256)
    assert sgd.weights == sgd.gradients == PARAM_BYTES * c.params
    assert sgd.optimizer == PARAM_BYTES * c.params  # momentum: one state
    plain = estimate_memory(c, batch_size=32, eval_batch_size=256, momentum=0.0)
    assert plain.optimizer == 0
    adam = estimate_memory(c, batch_size=32, eval_batch_size=256, optimizer="adamw")
    assert adam.optimizer == 2 * PARAM_BYTES * c.params
    amp = estimate_memory(c, batch_size=32, eval_batch_size=256, amp=True)
    assert amp.amp_weights == AMP_PARAM_BYTES * c.params and sgd.amp_weights == 0
    assert sgd.train_activations == pytest.approx(32 * c.activation_bytes * AUTOGRAD_FACTOR, 1)
    double = estimate_memory(c, batch_size=64, eval_batch_size=256)
    assert double.train_activations == pytest.approx(2 * sgd.train_activations, abs=1)
    assert sgd.total == sum(
        (sgd.weights, sgd.gradients, sgd.optimizer, sgd.amp_weights, sgd.activations)
    )
    assert sgd.to_dict()["total"] == sgd.total


def test_evaluation_batch_can_be_the_peak() -> None:
    c = cost(arch())
    est = estimate_memory(c, batch_size=1, eval_batch_size=100_000)
    assert est.activations == est.eval_activations > est.train_activations


def test_small_arch_packs_several_to_a_gpu() -> None:
    small = arch(size=16, channels=8)
    estimate, share = share_of(small, batch=32)
    assert estimate.total < 100 * MiB
    assert share.share == 0.1 and share.fits  # the floor: ten to a GPU at most
    assert trials_per_gpu(share.share) == 10


def test_large_arch_gets_a_whole_gpu() -> None:
    large = arch(size=224, channels=256, layers=4)
    estimate, share = share_of(large, batch=256, gpu_memory=16 * GiB)
    assert estimate.total > 16 * GiB
    assert share.share == 1.0 and not share.fits and share.needed > 1
    assert trials_per_gpu(share.share) == 1


def test_medium_arch_share_is_its_estimate_with_margin_rounded_up() -> None:
    medium = arch(size=32, channels=32, layers=3)
    estimate, share = share_of(medium, batch=32, gpu_memory=24 * GiB)
    needed = (estimate.total * 1.5 + 512 * MiB) / (24 * GiB)
    assert 0.1 < needed < 1 and share.needed == pytest.approx(needed)
    assert share.share >= needed and share.share - needed < 1e-4
    assert round(share.share * 10_000) == share.share * 10_000  # on Ray's grid
    assert 1 < trials_per_gpu(share.share) < 10


def test_safety_factor_and_overhead_raise_the_share() -> None:
    a = arch(size=32, channels=32, layers=3)
    _, base = share_of(a, batch=32, gpu_memory=24 * GiB)
    _, safer = share_of(a, batch=32, gpu_memory=24 * GiB, safety_factor=3.0)
    _, heavier = share_of(a, batch=32, gpu_memory=24 * GiB, overhead=4 * GiB)
    assert safer.share > base.share and heavier.share > base.share
    assert heavier.needed - base.needed == pytest.approx((4 * GiB - 512 * MiB) / (24 * GiB))


def test_floor_is_respected_and_validated() -> None:
    assert gpu_share(1, GiB, safety_factor=1, overhead=0, floor=0.25).share == 0.25
    assert gpu_share(1, GiB, safety_factor=1, overhead=0, floor=0.0001).share == 0.0001
    with pytest.raises(ValueError, match="floor"):
        gpu_share(1, GiB, safety_factor=1, overhead=0, floor=0)
    with pytest.raises(ValueError, match="gpu_memory"):
        gpu_share(1, 0, safety_factor=1, overhead=0, floor=0.1)


def test_rounding_goes_up_to_ray_grid_and_keeps_exact_values() -> None:
    assert round_up_share(0.12341) == 0.1235
    assert round_up_share(0.25) == 0.25
    assert round_up_share(0.1 + 0.2) == 0.3  # float noise does not add a grid step
    assert round_up_share(0.00001) == 0.0001
    assert trials_per_gpu(0.1235) == 8 and trials_per_gpu(0.3333) == 3


def _spec(resources: dict[str, Any]) -> Any:
    data = {
        "name": "r",
        "dataset": "digits",
        "input": {"size": 8, "channels": 1},
        "classes": 10,
        "layers": [{"name": "conv1", "channels": 4, "kernel": 3}],
        "time": {"steps": 2},
        "search": {"resources": resources},
    }
    return spec_from_data(data)


def test_gpu_auto_settings_parse_with_units() -> None:
    r = _spec({"gpu": "auto", "gpu_memory": "80GiB", "min_gpu_share": 0.2}).search.resources
    assert r.gpu_auto and r.gpu_memory == 80 * GiB and r.min_gpu_share == 0.2
    assert r.safety_factor == 1.5 and r.gpu_overhead == 512 * MiB
    assert r.limit_memory and not r.oom_retry and not r.compile
    si = _spec({"gpu": "auto", "gpu_memory": "24GB"}).search.resources
    assert si.gpu_memory == 24 * 10**9  # SI units are SI
    assert Resources(gpu=0.25).gpu == 0.25 and not Resources(gpu=0.25).gpu_auto


@pytest.mark.parametrize(
    ("resources", "field", "shown"),
    [
        ({"gpu": "half"}, "search.resources.gpu", "'half'"),
        ({"gpu": 1.5}, "search.resources.gpu", "whole number"),
        ({"gpu": 0.00001}, "search.resources.gpu", "0.0001"),
        ({"gpu": "auto", "gpu_memory": "lots"}, "search.resources.gpu_memory", "'lots'"),
        ({"gpu": "auto", "min_gpu_share": 0}, "search.resources.min_gpu_share", "0"),
        ({"gpu": "auto", "safety_factor": 0.5}, "search.resources.safety_factor", "0.5"),
        ({"oom_retry": "maybe"}, "search.resources.oom_retry", "'maybe'"),
    ],
)
def test_bad_resources_name_the_field_and_value(
    resources: dict[str, Any], field: str, shown: str
) -> None:
    from space.errors import SpecError

    with pytest.raises(SpecError) as info:
        _spec(resources)
    text = str(info.value)
    assert field in text and shown in text

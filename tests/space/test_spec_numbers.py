"""Numbers in specs and archs: bounds on the seed, the failure stop, and no bool as a number."""

from __future__ import annotations

from typing import Any

import pytest

from space.arch import arch_from_data
from space.errors import SpecError
from space.spec import spec_from_data
from tests.space.spec_fixtures import base

ARCH: dict[str, Any] = {
    "input": {"size": 16, "channels": 1},
    "classes": 10,
    "layers": [{"name": "conv1", "channels": 8}],
    "time": {"steps": 2},
}


def problems(data: dict[str, Any]) -> list[tuple[str, Any]]:
    with pytest.raises(SpecError) as info:
        spec_from_data(data)
    return [(p.path, p.value) for p in info.value.problems]


@pytest.mark.parametrize("seed", [-1, 2**32, 2**70])
def test_seed_out_of_32_bits_is_rejected(seed: int) -> None:
    assert problems(base(search={"seed": seed})) == [("search.seed", seed)]


@pytest.mark.parametrize("seed", [0, 2**32 - 1])
def test_seed_within_32_bits_is_accepted(seed: int) -> None:
    assert spec_from_data(base(search={"seed": seed})).search.seed == seed


def test_stop_after_failures_defaults_to_five_and_can_be_turned_off() -> None:
    assert spec_from_data(base()).search.stop_after_failures == 5
    off = spec_from_data(base(search={"stop_after_failures": None}))
    assert off.search.stop_after_failures is None
    assert problems(base(search={"stop_after_failures": 0})) == [("search.stop_after_failures", 0)]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"search": {"trials": True}}, "search.trials"),
        ({"search": {"concurrency": True}}, "search.concurrency"),
        ({"search": {"seed": True}}, "search.seed"),
        ({"search": {"time_budget": True}}, "search.time_budget"),
        ({"search": {"resources": {"gpu": True}}}, "search.resources.gpu"),
        ({"classes": True}, "classes"),
        ({"constraints": {"max_params": True}}, "constraints.max_params"),
        ({"training": {"lr": True}}, "training.lr"),
        ({"training": {"epochs": True}}, "training.epochs"),
        ({"input": {"size": 16, "channels": True}}, "input.channels"),
        ({"feedback": {"max_edges": False}}, "feedback.max_edges"),
    ],
)
def test_a_bool_is_not_a_number_in_a_spec(changes: dict[str, Any], path: str) -> None:
    assert [p for p, _ in problems(base(**changes))] == [path]


def test_a_bool_is_not_a_number_in_a_spec_layer() -> None:
    layers = [{"name": "conv1", "channels": True}]
    assert [p for p, _ in problems(base(layers=layers, cells={}))] == ["layers.0.channels"]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"layers": [{"name": "conv1", "channels": True}]}, "layers.0.channels"),
        ({"training": {"lr": True}}, "training.lr"),
        ({"classes": True}, "classes"),
        ({"time": {"steps": True}}, "time.steps"),
    ],
)
def test_a_bool_is_not_a_number_in_an_arch(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(SpecError) as info:
        arch_from_data({**ARCH, **changes})
    assert [p.path for p in info.value.problems] == [path]


def test_an_int_is_still_a_float() -> None:
    spec = spec_from_data(base(training={"lr": 1, "momentum": {"choice": [0, 0.5]}}))
    assert spec.training.lr == 1.0
    arch = arch_from_data({**ARCH, "training": {"lr": 1}})
    assert arch.training is not None and arch.training.lr == 1.0

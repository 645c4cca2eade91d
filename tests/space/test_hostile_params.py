"""Leaves that once exhausted memory or time, and bools taken for numbers (issue 9)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from space.describe import describe
from space.errors import SpecError
from space.params import (
    INT64_MAX,
    IntRange,
    domain_bounds,
    domain_of,
    finite_values,
    numeric_bounds,
)
from space.sampling import sample
from space.spec import SearchSpec, spec_from_text

HEAD = """\
name: hostile
dataset: digits
input: {size: 16, channels: 1}
classes: 10
time: {steps: 4}
"""


@contextmanager
def within(cpu_seconds: float) -> Iterator[None]:
    start = time.process_time()
    yield
    assert time.process_time() - start < cpu_seconds


def spec_with(channels: str) -> SearchSpec:
    return spec_from_text(HEAD + f"layers:\n  - {{name: a, kernel: 3, channels: {channels}}}\n")


def problems(channels: str) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        spec_with(channels)
    return [(p.path, p.message) for p in info.value.problems]


@pytest.mark.parametrize("high", [10**7, 10**12, INT64_MAX])
def test_huge_int_range_is_never_materialised(high: int) -> None:
    with within(1.0):
        spec = spec_with(f"{{int: [1, {high}]}}")
        info = describe(spec)
        arch = sample(spec, seed=0)
    assert info.arch_count == high
    assert any(p.domain == f"int 1..{high}" for p in info.params)
    assert 1 <= arch.layers[0].channels <= high


def test_int_range_domain_answers_in_constant_time() -> None:
    domain = IntRange(1, 10**12, 3)
    with within(0.1):
        values = finite_values(domain)
        assert values is not None
        assert len(values) == domain.size() == (10**12 - 1) // 3 + 1
        assert 10**12 in values and 2 not in values
        assert values[-1] == 10**12
        assert domain_bounds(domain) == numeric_bounds(domain) == (1, 10**12)
        assert domain.describe() == f"int 1..{10**12} step 3"


def test_int_range_beyond_64_bits_is_a_named_error() -> None:
    ((path, message),) = problems(f"{{int: [1, {2**64}]}}")
    assert path == "layers.0.channels.int.1"  # refused as read, like any integer (issue 18)
    assert "64 bits" in message


def test_long_choice_is_checked_in_linear_time() -> None:
    # 15,000 values (a spec holds MAX_SPEC_NODES); pairwise, 30,000 took 37 s
    values = ", ".join(str(v) for v in range(1, 15_001))
    with within(3.0):
        spec = spec_with(f"{{choice: [{values}]}}")
    assert describe(spec).arch_count == 15_000


def test_duplicate_choice_is_still_found() -> None:
    ((path, message),) = problems("{choice: [8, 16, 8]}")
    assert path == "layers.0.channels" and "duplicate choice 8" in message


LAYER = "layers:\n  - {name: a, kernel: 3, channels: 8}\n"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ("layers:\n  - {name: a, kernel: 3, channels: {int: [true, 5]}}\n", "layers.0.channels"),
        ("layers:\n  - {name: a, kernel: 3, channels: {int: [1, true]}}\n", "layers.0.channels"),
        (LAYER + "training: {lr: {float: [true, 2]}}\n", "training.lr"),
        ("layers:\n  - {name: a, kernel: 3, channels: true}\n", "layers.0.channels"),
        ("layers:\n  - {name: a, kernel: 3, channels: {choice: [true, 8]}}\n", "layers.0.channels"),
        (LAYER + "training: {lr: true}\n", "training.lr"),
    ],
    ids=["int low", "int high", "float low", "fixed int", "int choice", "fixed float"],
)
def test_bool_is_not_a_number_in_a_leaf(body: str, path: str) -> None:
    with pytest.raises(SpecError) as info:
        spec_from_text(HEAD + body)
    (problem,) = info.value.problems
    assert problem.message == "expected a number, not a bool"
    assert problem.path.startswith(path) and problem.value is True


def test_bools_stay_valid_where_a_field_is_boolean() -> None:
    spec = spec_from_text(
        HEAD + "layers:\n  - {name: a, kernel: 3, channels: 8, residual: {choice: [true, false]}}\n"
    )
    assert describe(spec).arch_count == 2


def test_numbers_still_bound_ranges() -> None:
    spec = spec_from_text(
        HEAD + "layers:\n  - {name: a, kernel: 3, channels: {int: [4, 8]}}\n"
        "training: {lr: {float: [1, 2]}}\n"
    )
    assert domain_bounds(domain_of(spec.training.lr)) == (1.0, 2.0)


def test_numeric_bounds_skip_none() -> None:
    from space.params import Categorical

    assert numeric_bounds(Categorical((None, 4, 2))) == (2, 4)
    assert numeric_bounds(Categorical(("a", None))) is None

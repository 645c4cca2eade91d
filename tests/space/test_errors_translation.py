"""One translator from pydantic errors to problems, for arch and spec documents alike."""

from __future__ import annotations

import pytest

from space import arch as A
from space.arch import arch_from_data
from space.errors import (
    RENDER_LIMIT,
    VALUE_LIMIT,
    Problem,
    SpecError,
    capped,
    echo,
)
from space.spec import spec_from_data
from space.validation import union_tags

ARCH = {
    "input": {"size": 16, "channels": 1},
    "classes": 10,
    "layers": [{"name": "conv1", "channels": 8}],
    "time": {"steps": 2},
}


def test_union_tags_are_the_registered_kinds() -> None:
    assert union_tags() == {
        "cell": frozenset(A.CELL_MODELS),
        "readout": frozenset(A.READOUT_MODELS),
    }


@pytest.mark.parametrize("kind", list(A.CELL_MODELS))
def test_arch_paths_leave_out_the_cell_kind_tag(kind: str) -> None:
    data = {**ARCH, "layers": [{"name": "conv1", "channels": 8, "cell": {"kind": kind, "bad": 1}}]}
    with pytest.raises(SpecError) as info:
        arch_from_data(data)
    assert [p.path for p in info.value.problems] == ["layers.0.cell.bad"]


@pytest.mark.parametrize("kind", list(A.READOUT_MODELS))
def test_arch_paths_leave_out_the_readout_kind_tag(kind: str) -> None:
    data = {**ARCH, "time": {"steps": 2, "readout": {"kind": kind, "bad": 1}}}
    with pytest.raises(SpecError) as info:
        arch_from_data(data)
    assert [p.path for p in info.value.problems] == ["time.readout.bad"]


def test_spec_and_arch_report_a_bad_leaf_value_the_same_way() -> None:
    spec = {
        "name": "t",
        "dataset": "digits",
        "input": {"size": 16, "channels": 1},
        "classes": 10,
        "layers": [{"name": "conv1", "channels": 8, "kernel": 40}],
        "time": {"steps": 2},
    }
    with pytest.raises(SpecError) as from_spec:
        spec_from_data(spec)
    with pytest.raises(SpecError) as from_arch:
        arch_from_data({**ARCH, "layers": [{"name": "conv1", "channels": 8, "kernel": 40}]})
    (spec_problem,) = from_spec.value.problems
    (arch_problem,) = from_arch.value.problems
    assert spec_problem.path == arch_problem.path == "layers.0.kernel"
    assert spec_problem.message == arch_problem.message
    assert spec_problem.value == arch_problem.value == 40


@pytest.mark.parametrize("value", [None, 3, 2.5, True, "short", [1, "a"], {"k": [1, 2]}, 2**63])
def test_small_values_are_echoed_as_they_are(value: object) -> None:
    assert echo(value) == value
    assert Problem("a", "bad", value).to_dict()["value"] == value


def test_large_values_are_echoed_in_part_in_bounded_work() -> None:
    text = "a" * 200_000
    shown = echo(text)
    assert len(shown) <= VALUE_LIMIT and shown.endswith("... (200,000 characters)")
    aliased = [text] * 999  # one string, 200 MB written out
    assert len(echo(aliased)) <= VALUE_LIMIT and echo(aliased).startswith("['aaa")
    assert len(echo(10**400)) <= VALUE_LIMIT  # 401 digits
    assert echo(echo(text)) == echo(text)
    assert len(str(Problem("a", "bad", aliased))) < VALUE_LIMIT
    assert "too large to show" in str(Problem("a", "bad", 10**5000))  # beyond int-to-str


def test_problem_lists_are_capped_with_a_count_of_the_rest() -> None:
    problems = [Problem(f"k{i}", "unknown") for i in range(RENDER_LIMIT + 7)]
    shown = capped(problems)
    assert shown[:RENDER_LIMIT] == problems[:RENDER_LIMIT] and len(shown) == RENDER_LIMIT + 1
    assert shown[-1].message == "... and 7 more problems (not listed)"
    assert capped(problems[:RENDER_LIMIT]) == problems[:RENDER_LIMIT]

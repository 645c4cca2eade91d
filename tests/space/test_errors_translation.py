"""One translator from pydantic errors to problems, for arch and spec documents alike."""

from __future__ import annotations

import pytest

from space import arch as A
from space.arch import arch_from_data
from space.errors import SpecError, union_tags
from space.spec import spec_from_data

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

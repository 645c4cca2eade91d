"""Numbers as users write them: exponent floats (YAML 1.2 / JSON) and amounts that overflow."""

from __future__ import annotations

from typing import Any

import pytest

from space.document import parse_document
from space.errors import SpecError
from space.spec import spec_from_data, spec_from_text
from tests.space.spec_fixtures import base as minimal_spec


def test_an_exponent_alone_makes_a_float() -> None:
    data, _ = parse_document("a: 1e-5\nb: 3E4\nc: -2e+3\nd: 1e\ne: '1e5'\nf: 200k\n", "x")
    assert data == {"a": 1e-05, "b": 30000.0, "c": -2000.0, "d": "1e", "e": "1e5", "f": "200k"}


def test_a_spec_takes_exponent_learning_rates_and_amounts() -> None:
    text = _yaml(minimal_spec()) + "training: {lr: 1e-3}\nconstraints: {max_params: 1e6}\n"
    spec = spec_from_text(text, "s.yaml")
    assert spec.training.lr == pytest.approx(1e-3)
    assert spec.constraints.max_params == 1_000_000


@pytest.mark.parametrize("field", ["max_params", "max_flops"])
def test_an_amount_too_large_for_a_float_is_a_named_problem(field: str) -> None:
    data = {**minimal_spec(), "constraints": {field: "1e400"}}
    with pytest.raises(SpecError) as info:
        spec_from_data(data)
    [problem] = info.value.problems
    assert problem.path == f"constraints.{field}" and "too large" in problem.message


def test_a_duration_too_large_is_a_named_problem() -> None:
    data = {**minimal_spec(), "search": {"time_budget": "9" * 400 + "s"}}
    with pytest.raises(SpecError) as info:
        spec_from_data(data)
    assert info.value.problems[0].path == "search.time_budget"


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump(data))

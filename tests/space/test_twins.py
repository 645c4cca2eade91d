"""space.spec.twins: every frozen model's searchable twin, built at import from the model."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field

from space import arch as A
from space.params import ChoiceLeaf, IntLeaf, TieLeaf
from space.spec import twins


class WithNewField(A.Frozen):
    """A frozen model that grew a field."""

    width: Annotated[int, Field(ge=1, le=9)] = 3
    depth: Annotated[int, Field(ge=1)] = 2
    mode: A.Activation = "elu"


def test_a_new_arch_field_becomes_a_searchable_field_with_its_bounds() -> None:
    space = twins.build(twins.Twin("WithNewFieldSpace", WithNewField))
    assert space.__doc__ == WithNewField.__doc__
    assert space.model_validate({}).width == 3  # the frozen default
    assert isinstance(space.model_validate({"width": {"int": [1, 9]}}).width, IntLeaf)
    assert isinstance(space.model_validate({"mode": {"choice": ["elu", "relu"]}}).mode, ChoiceLeaf)
    assert isinstance(space.model_validate({"width": {"tie": "depth"}}).width, TieLeaf)
    with pytest.raises(ValueError, match="type mismatch: width holds int values"):
        space.model_validate({"width": {"tie": "mode"}})  # ties are checked on twins too
    with pytest.raises(ValueError, match="less than or equal to 9"):
        space.model_validate({"width": {"int": [1, 10]}})
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        space.model_validate({"height": 2})


def test_every_frozen_field_has_a_searchable_twin_field() -> None:
    for twin in twins.TWINS:
        built = twins.build(twin)
        expected = set(twin.frozen.model_fields) - set(twin.exclude)
        assert expected <= set(built.model_fields), twin.name


def test_generated_fields_validate_as_leaves_of_the_frozen_field() -> None:
    layer = twins.LayerFields.model_validate(
        {"name": "a", "channels": 8, "kernel": {"int": [1, 5], "step": 2}}
    )
    assert isinstance(layer.kernel, IntLeaf)
    with pytest.raises(ValueError, match="less than or equal to 31"):
        twins.LayerFields.model_validate(
            {"name": "a", "channels": 8, "kernel": {"choice": [3, 40]}}
        )

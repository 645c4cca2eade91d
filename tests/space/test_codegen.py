"""space.codegen: the checked-in searchable models match the frozen arch models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from pydantic import Field

from space import arch as A
from space import codegen, spec_generated
from space.params import IntLeaf


def test_checked_in_models_are_current() -> None:
    # Fails after a change to a frozen model in space.arch: run `python -m space.codegen`.
    assert codegen.main(["--check"]) == 0


def test_a_stale_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "twins.py"
    stale.write_text(codegen.TARGET.read_text().replace("    depth_separable", "    separable", 1))
    monkeypatch.setattr(codegen, "TARGET", stale)
    assert codegen.main(["--check"]) == 1


class WithNewField(A.Frozen):
    """A frozen model that grew a field."""

    width: Annotated[int, Field(ge=1, le=9)] = 3


def test_a_new_arch_field_becomes_a_searchable_field() -> None:
    source = codegen.render_class(codegen.Target("WithNewFieldSpace", WithNewField))
    field = (
        "width: Annotated[int | ChoiceLeaf | IntLeaf | TieLeaf, "
        'FromArch(A.WithNewField, "width")] = 3'
    )
    assert field in source


def test_generated_fields_validate_as_leaves_of_the_frozen_field() -> None:
    layer = twins.LayerFields.model_validate(
        {"name": "a", "channels": 8, "kernel": {"int": [1, 5], "step": 2}}
    )
    assert isinstance(layer.kernel, IntLeaf)
    with pytest.raises(ValueError, match="less than or equal to 31"):
        twins.LayerFields.model_validate(
            {"name": "a", "channels": 8, "kernel": {"choice": [3, 40]}}
        )

"""One definition of dataset references (issue 8): every form parses into the spec's models."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from space.spec.datasets import (
    DatasetRef,
    DigitsDataset,
    NpzDataset,
    PathfinderDataset,
    ShapesDataset,
)
from workers.data import parse_dataset_ref
from workers.data.shapes import SHAPES
from workers.errors import DatasetError

SPEC_REF: TypeAdapter[Any] = TypeAdapter(DatasetRef)


@pytest.mark.parametrize(
    "form",
    [
        "pathfinder:difficulty=hard,samples=9",
        {"name": "pathfinder", "difficulty": "hard", "samples": 9},
        "digits",
        "npz:data/x.npz",
        {"name": "shapes", "samples": 100, "classes": 4, "seed": 2, "limit": 50},
    ],
)
def test_every_form_gives_the_spec_model(form: Any) -> None:
    ref = parse_dataset_ref(form)
    assert ref == SPEC_REF.validate_python(form)
    # what trial configs and exports record parses back to the same reference
    assert parse_dataset_ref(ref.to_ref()) == ref
    assert parse_dataset_ref(ref) is ref


def test_cli_and_trial_config_forms() -> None:
    a = parse_dataset_ref("pathfinder:samples=100,seed=2,limit=50")
    b = parse_dataset_ref(
        {"kind": "Pathfinder", "seed": 2, "limit": 50, "options": {"samples": 100}, "size": None}
    )
    assert a == b and isinstance(a, PathfinderDataset)
    assert (a.samples, a.seed, a.limit, a.difficulty) == (100, 2, 50, "medium")
    assert str(a) == "pathfinder:samples=100"  # the dataset's name in records
    assert str(parse_dataset_ref(" npz: a b.npz ")) == "npz:a b.npz"
    assert isinstance(parse_dataset_ref("DIGITS"), DigitsDataset)
    assert isinstance(parse_dataset_ref({"name": "npz", "path": "x.npz"}), NpzDataset)


def test_bounds_are_the_specs() -> None:
    """shapes' ``classes`` had drifted: the spec took any count, the loader at most 10."""
    bound = ShapesDataset.model_fields["classes"].metadata
    assert any(getattr(m, "le", None) == len(SHAPES) for m in bound)
    with pytest.raises(ValidationError, match="less than or equal to 10"):
        SPEC_REF.validate_python("shapes:classes=11")
    with pytest.raises(DatasetError, match=r"dataset\.classes: .*less than or equal to 10"):
        parse_dataset_ref("shapes:classes=11")


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ("pathfinder:hard", "config.dataset", "key=value"),
        ({"name": "digits", "path": "x"}, "config.dataset.path", "is built in and takes no path"),
        ({"name": "npz"}, "config.dataset.path", "npz needs a path: npz:PATH"),
        ("shapes:samples=2", "config.dataset.samples", "greater than or equal to 4"),
        ("shapes:colour=red", "config.dataset.colour", "shapes accepts options: classes, limit"),
        ({"samples": 3}, "config.dataset.name", "a dataset name is required"),
        ({"name": "mnist"}, "config.dataset.name", "unknown dataset; expected one of digits"),
        (["digits"], "config.dataset", "expected a string"),
    ],
)
def test_errors_name_the_field_and_value(form: Any, field: str, words: str) -> None:
    with pytest.raises(DatasetError) as caught:
        parse_dataset_ref(form, "config.dataset")
    assert caught.value.field == field and words in caught.value.message


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"name": "shapes", "samples": True}, "dataset.samples"),
        ({"name": "shapes", "samples": "100"}, "dataset.samples"),
        ({"name": "pathfinder", "length": False}, "dataset.length"),
        ({"name": "digits", "val_fraction": True}, "dataset.val_fraction"),
        ("digits:seed=-1", "dataset.seed"),
        (f"digits:seed={2**70}", "dataset.seed"),
        ("shapes:samples=many", "dataset.samples"),
    ],
)
def test_numbers_are_strict_and_seeds_in_range(form: Any, field: str) -> None:
    """A bool is not a number (``samples: true`` was 1 in a spec), nor is text in a mapping; a
    seed lies in 0..2**32-1 like the search's."""
    with pytest.raises(DatasetError) as caught:
        parse_dataset_ref(form)
    assert caught.value.field == field
    with pytest.raises(ValidationError):
        SPEC_REF.validate_python(form)

"""The search-spec models: leaf forms, conditionals, shorthands, defaults, schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from space.params import (
    Boolean,
    BoolLeaf,
    Categorical,
    ChoiceLeaf,
    Fixed,
    FloatLeaf,
    FloatRange,
    IntLeaf,
    IntRange,
    domain_of,
)
from space.spec import (
    CellOneOf,
    ReadoutOneOf,
    SearchSpec,
    load_spec,
    spec_from_data,
    spec_from_text,
    spec_json_schema,
)
from tests.space.spec_fixtures import EXAMPLES
from tests.space.spec_fixtures import base as spec_base


def base(**changes: Any) -> dict[str, Any]:
    # 4 steps: the readout of 3 layers first sees the image at step 3
    return spec_base(**{"time": {"steps": 4}, **changes})


def test_every_leaf_kind_parses_to_its_domain() -> None:
    spec = spec_from_data(
        base(
            layers=[
                {
                    "name": "conv1",
                    "channels": {"choice": [8, 16]},
                    "kernel": {"int": [1, 7], "step": 2},
                    "bias": {"bool": "any"},
                    "stride": 1,
                }
            ],
            cells={},
            training={"lr": {"float": [0.001, 0.1], "log": True}, "momentum": {"float": [0, 0.9]}},
        )
    )
    layer = spec.layers[0]
    assert isinstance(layer.channels, ChoiceLeaf)
    assert domain_of(layer.channels) == Categorical((8, 16))
    assert isinstance(layer.kernel, IntLeaf)
    assert domain_of(layer.kernel) == IntRange(1, 7, 2)
    assert domain_of(layer.kernel).values() == (1, 3, 5, 7)  # type: ignore[union-attr]
    assert isinstance(layer.bias, BoolLeaf)
    assert domain_of(layer.bias) == Boolean()
    assert domain_of(layer.stride) == Fixed(1)
    assert isinstance(spec.training.lr, FloatLeaf)
    assert domain_of(spec.training.lr) == FloatRange(0.001, 0.1, True)
    assert domain_of(spec.training.momentum) == FloatRange(0.0, 0.9, False)


def test_defaults_come_from_the_frozen_models() -> None:
    spec = spec_from_data(base())
    layer = spec.layers[0]
    assert (layer.kernel, layer.stride, layer.activation, layer.cell) == (3, 1, "elu", None)
    assert spec.training.optimizer == "sgd" and spec.training.epochs == 2
    assert spec.time.readout.kind == "last" and spec.time.unroll == "biological"
    assert spec.time.image_off is None
    assert spec.cells["main"].cell_depth == 0
    assert spec.objectives[0].metric == "val_acc" and spec.objectives[0].direction == "max"
    assert spec.scheduler == "asha"


def test_one_of_cells_and_branch_names() -> None:
    spec = spec_from_data(
        base(
            cells={
                "main": {
                    "share": "per_layer",
                    "one_of": [
                        {"kind": "rgc", "branch": "small", "cell_depth": 0},
                        {"kind": "rgc", "branch": "big", "cell_depth": 64},
                        {"kind": "lstm", "peepholes": {"bool": "any"}},
                    ],
                }
            }
        )
    )
    cell = spec.cells["main"]
    assert isinstance(cell, CellOneOf) and cell.share == "per_layer"
    assert [b.branch or b.kind for b in cell.one_of] == ["small", "big", "lstm"]


def test_inline_cell_and_readout_forms() -> None:
    spec = spec_from_data(
        base(
            layers=[
                {"name": "conv1", "channels": 8, "cell": {"kind": "gru", "forget_bias": 0.5}},
            ],
            cells={},
            time={
                "steps": 8,
                "readout": {"one_of": ["last", {"kind": "mean", "start": 2}, "max_conf"]},
            },
        )
    )
    assert spec.layers[0].cell.kind == "gru"
    readout = spec.time.readout
    assert isinstance(readout, ReadoutOneOf)
    assert [b.kind for b in readout.one_of] == ["last", "mean", "max_conf"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("digits", {"name": "digits", "val_fraction": 0.2}),
        ("imagefolder:/data/x", {"name": "imagefolder", "path": "/data/x", "val_fraction": 0.2}),
        ("npz:a.npz", {"name": "npz", "path": "a.npz", "val_fraction": 0.2}),
        (
            "shapes:samples=100,size=16",
            {"name": "shapes", "samples": 100, "size": 16, "val_fraction": 0.2},
        ),
    ],
)
def test_dataset_shorthands(given: str, expected: dict[str, Any]) -> None:
    ref = spec_from_data(base(dataset=given)).dataset.to_ref()
    assert {k: ref[k] for k in expected} == expected


def test_amounts_durations_and_search_settings() -> None:
    spec = spec_from_data(
        base(
            constraints={"max_params": "1.5M", "max_flops": "2G", "max_activation_memory": "1GiB"},
            search={"time_budget": "30m", "resources": {"cpu": 2, "gpu": 0.25}, "seed": 3},
            objectives=["val_acc", {"metric": "params"}],
        )
    )
    assert spec.constraints.max_params == 1_500_000
    assert spec.constraints.max_flops == 2 * 10**9
    assert spec.constraints.max_activation_memory == 2**30
    assert spec.search.time_budget == 1800
    assert spec.search.resources.gpu == 0.25
    assert [o.direction for o in spec.objectives] == ["max", "min"]
    assert spec.scheduler == "fifo"  # several objectives: no asha by default
    params_only = spec.model_copy(update={"objectives": spec.objectives[1:]})
    assert params_only.scheduler == "fifo"  # asha stops on val_acc, which is not the objective


def test_yaml_and_json_give_the_same_spec(tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES / "quickstart.yaml")
    as_json = tmp_path / "q.json"
    as_json.write_text(json.dumps(spec.model_dump(mode="json", by_alias=True, exclude_none=True)))
    assert load_spec(as_json) == spec


def test_text_round_trip() -> None:
    text = """
name: t
dataset: digits
input: {size: 16, channels: 1}
classes: 10
layers:
  - {name: a, channels: {choice: [4, 8]}}
time: {steps: 2}
"""
    spec = spec_from_text(text)
    assert isinstance(spec, SearchSpec)
    assert domain_of(spec.layers[0].channels) == Categorical((4, 8))


@pytest.mark.parametrize("name", ["quickstart", "paper_rgc", "cell_families"])
def test_examples_validate(name: str) -> None:
    spec = load_spec(EXAMPLES / f"{name}.yaml")
    assert spec.name == name


def test_paper_rgc_matches_the_papers() -> None:
    spec = load_spec(EXAMPLES / "paper_rgc.yaml")
    assert spec.input.size == 224 and spec.classes == 1000  # the released models' resolution
    assert [layer.name for layer in spec.layers] == [f"conv{i}" for i in range(1, 11)]
    assert {layer.name for layer in spec.layers if layer.cell == "rgc"} == {
        f"conv{i}" for i in range(4, 11)
    }
    assert (spec.time.steps, spec.time.image_off) == (17, 12)
    edges = spec.edge_candidates()
    assert len(edges) == 21  # every later -> earlier pair of the seven cell layers
    assert ("conv8", "conv5") in {(e.source, e.target) for e in edges}


def test_schema_is_useful_for_editors() -> None:
    schema = spec_json_schema()
    assert schema["title"] == "convnas search spec"
    assert {"name", "dataset", "input", "classes", "layers"} <= set(schema["required"])
    defs = schema["$defs"]
    rgc = defs["RGCCellSpace"]
    assert rgc["additionalProperties"] is False
    assert "gate_filter_size" in rgc["properties"]
    json.dumps(schema)  # serialisable
    leaf = json.dumps(defs["LayerSpace"]["properties"]["kernel"])
    assert "choice" in leaf or "IntGe1Le31Choice" in leaf


SHORTHAND_SPECS = [
    {"time": {"steps": 4, "readout": "last"}, "constraints": {"max_params": "200k"}},
    {
        "dataset": "npz:/data/x.npz",
        "time": {"steps": 4, "readout": {"one_of": ["last", {"kind": "mean", "start": 1}]}},
        "constraints": {"max_flops": "50M", "max_activation_memory": "2GiB"},
        "search": {"time_budget": "14d"},
        "objectives": ["val_acc", {"metric": "params"}],
    },
    {"dataset": "digits:val_fraction=0.3", "search": {"time_budget": 90}},
    {"dataset": "imagefolder:/data/imgs", "constraints": {"max_params": 1000}},
]


def test_the_schema_accepts_every_example_and_the_shorthands() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(spec_json_schema())
    documents = [yaml.safe_load(p.read_text()) for p in sorted(EXAMPLES.glob("*.yaml"))]
    documents += [base(**changes) for changes in SHORTHAND_SPECS]
    for document in documents:
        spec_from_data(document)  # the validator accepts it...
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
        assert errors == []  # ...and so does the schema


def test_the_schema_still_rejects_what_the_validator_rejects() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(spec_json_schema())
    for changes in (
        {"constraints": {"max_params": "lots"}},
        {"dataset": "cifar"},
        {"time": {"steps": 4, "readout": "median"}},
        {"search": {"time_budget": "2 weeks"}},
        {"objectives": ["accuracy"]},
    ):
        assert list(validator.iter_errors(base(**changes))), changes

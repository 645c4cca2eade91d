"""Tied parameters: ``{tie: FIELD, scale: S, offset: O}`` takes a sibling field's value, is no
parameter of its own, and every wrong tie is an error at the tied field's path."""

from __future__ import annotations

from typing import Any

import pytest

from space.describe import describe
from space.errors import SpecError
from space.params import SearchDomain
from space.sampling import RandomSampler, freeze, sample
from space.spec import spec_from_data, spec_json_schema
from tests.space.spec_fixtures import base

PAPER_TIES = {
    "kind": "rgc",
    "tau_offset": {"float": [0.5, 1.0]},
    "tau_multiplier": {"tie": "tau_offset", "scale": -1},
    "gate_multiplier": {"tie": "gate_offset", "scale": -1},  # the target comes after the tie
    "gate_offset": {"float": [0.5, 1.0]},
}


def _spec(cell: dict[str, Any], **changes: Any) -> Any:
    return spec_from_data(base(cells={"main": cell}, **changes))


def _problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as err:
        spec_from_data(data)
    return [(p.path, p.message) for p in err.value.problems]


def test_a_tie_takes_its_targets_value_times_scale() -> None:
    spec = _spec(PAPER_TIES)
    for seed in range(30):
        cell: Any = sample(spec, seed).layer("conv2").cell
        assert 0.5 <= cell.tau_offset <= 1.0 and cell.tau_multiplier == -cell.tau_offset
        assert cell.gate_multiplier == -cell.gate_offset


def test_a_tie_is_not_a_parameter() -> None:
    spec = _spec(PAPER_TIES)
    asked: list[str] = []

    def recording(label: str, domain: SearchDomain) -> Any:
        asked.append(label)
        return RandomSampler(len(asked))(label, domain)

    freeze(spec, recording)
    assert asked == ["cells.main.tau_offset", "cells.main.gate_offset"]
    assert [p.label for p in describe(spec).params] == asked


def test_offset_ints_and_plain_copies() -> None:
    cell = {
        "kind": "rgc",
        "cell_depth": 8,
        "tau_filter_size": {"choice": [1, 3]},
        "in_out_filter_size": {"tie": "tau_filter_size", "scale": 2, "offset": 1},
        "tau_bias": {"choice": [0.0, 2.0]},
        "gate_bias": {"tie": "tau_bias", "offset": 0.5},
        "input_to_out": {"bool": "any"},
        "cell_to_out": {"tie": "input_to_out"},
        "gate_nonlinearity": {"choice": ["sigmoid", "tanh"]},
        "tau_nonlinearity": {"tie": "gate_nonlinearity"},
    }
    spec = _spec(cell)
    seen = set()
    for seed in range(40):
        got: Any = sample(spec, seed).layer("conv2").cell
        assert got.in_out_filter_size == 2 * got.tau_filter_size + 1
        assert isinstance(got.in_out_filter_size, int)
        assert got.gate_bias == got.tau_bias + 0.5
        assert got.cell_to_out == got.input_to_out
        assert got.tau_nonlinearity == got.gate_nonlinearity
        seen.add((got.tau_filter_size, got.input_to_out))
    assert len(seen) == 4
    # tied fields add no architectures: 2 kernels x 2 biases x 2 switches x 2 nonlinearities
    assert describe(spec).arch_count == 16


def test_ties_in_layers_and_training() -> None:
    layers = [
        {"name": "conv1", "channels": {"choice": [8, 16]}, "post_kernel": {"tie": "kernel"}},
        {"name": "conv2", "channels": 8, "cell": "main"},
    ]
    training = {"lr": {"float": [0.01, 0.1]}, "warmup_epochs": {"tie": "lr", "scale": 10}}
    spec = spec_from_data(base(layers=layers, training=training, time={"steps": 4}))
    arch = sample(spec, 3)
    assert arch.layers[0].post_kernel == arch.layers[0].kernel == 3
    assert arch.training is not None
    assert arch.training.warmup_epochs == pytest.approx(10 * arch.training.lr)


@pytest.mark.parametrize(
    ("cell", "path", "message"),
    [
        (
            {"tau_multiplier": {"tie": "tau_ofset", "scale": -1}},
            "cells.main.tau_multiplier",
            "tie target 'tau_ofset' is not a field of this RGCCell node (did you mean tau_offset?)",
        ),
        (
            {"tau_multiplier": {"tie": "tau_multiplier"}},
            "cells.main.tau_multiplier",
            "tau_multiplier cannot be tied to itself",
        ),
        (
            {"tau_bias": {"tie": "gate_bias"}, "gate_bias": {"tie": "tau_offset"}},
            "cells.main.tau_bias",
            "tie target 'gate_bias' is itself tied (to 'tau_offset'): ties cannot chain or "
            "cycle; tie tau_bias to 'tau_offset' directly",
        ),
        (
            {"tau_multiplier": {"tie": "kind"}},
            "cells.main.tau_multiplier",
            "tie target 'kind' is not a searchable value field: tie to a value field",
        ),
        (
            {"cell_depth": {"tie": "tau_offset"}},
            "cells.main.cell_depth",
            "type mismatch: cell_depth holds int values, its tie target tau_offset holds float",
        ),
        (
            {"tau_bias": {"tie": "layer_norm"}},
            "cells.main.tau_bias",
            "type mismatch: tau_bias holds float values, its tie target layer_norm holds bool",
        ),
        (
            {
                "tau_filter_size": {"choice": [3, 17]},
                "gate_filter_size": {"tie": "tau_filter_size", "scale": 2},
            },
            "cells.main.gate_filter_size",
            "tied to tau_filter_size * 2: tau_filter_size = 17 gives 34, not a valid "
            "gate_filter_size (Input should be less than or equal to 31)",
        ),
        (
            {"gate_filter_size": {"tie": "tau_filter_size", "scale": 0.5}},
            "cells.main.gate_filter_size",
            "gate_filter_size holds integers: its tie needs an integer scale and offset",
        ),
        (
            {"input_to_out": {"tie": "cell_to_out", "scale": -1}},
            "cells.main.input_to_out",
            "scale and offset apply to numbers only; cell_to_out can be False",
        ),
        (
            {"tau_nonlinearity": {"tie": "cell_activation"}},
            "cells.main.tau_nonlinearity",
            "tied to cell_activation: cell_activation = 'elu' gives 'elu', not a valid "
            "tau_nonlinearity (Input should be 'sigmoid' or 'tanh')",
        ),
    ],
)
def test_wrong_ties_are_named_errors(cell: dict[str, Any], path: str, message: str) -> None:
    problems = _problems(base(cells={"main": {"kind": "rgc", **cell}}))
    assert (path, message) in problems


def test_a_cycle_is_named_at_both_fields() -> None:
    cell = {"kind": "rgc", "tau_bias": {"tie": "gate_bias"}, "gate_bias": {"tie": "tau_bias"}}
    problems = _problems(base(cells={"main": cell}))
    assert problems == [
        ("cells.main.tau_bias", "ties form a cycle: tau_bias -> gate_bias -> tau_bias"),
        ("cells.main.gate_bias", "ties form a cycle: gate_bias -> tau_bias -> gate_bias"),
    ]


def test_bad_tie_forms() -> None:
    bad = {"kind": "rgc", "tau_multiplier": {"tie": "tau_offset", "scale": True, "by": 2}}
    problems = dict(_problems(base(cells={"main": bad})))
    assert problems["cells.main.tau_multiplier.scale"] == "expected a number, not a bool"
    assert problems["cells.main.tau_multiplier.by"] == "Extra inputs are not permitted"


def test_no_ties_in_feedback_settings() -> None:
    feedback = {"candidates": "later_to_earlier", "kernel": {"tie": "entry"}}
    assert (
        "feedback.kernel",
        "ties are not supported in feedback settings (each edge's are sampled apart)",
    ) in _problems(base(feedback=feedback))
    edge = {"source": "conv3", "target": "conv2", "kernel": {"tie": "entry"}}
    paths = [p for p, _ in _problems(base(feedback={"candidates": [edge]}))]
    assert paths == ["feedback.candidates.0.kernel"]


def test_the_json_schema_offers_ties() -> None:
    text = str(spec_json_schema())
    assert "'tie'" in text


def test_a_tie_among_dependent_fields_makes_the_count_an_upper_bound() -> None:
    # gate_filter_size decides whether the rgc has memory, which the drive repair reads
    cell = {
        "kind": "rgc",
        "cell_depth": {"choice": [0, 8]},
        "tau_filter_size": {"choice": [1, 3]},
        "gate_filter_size": {"tie": "tau_filter_size"},
    }
    info = describe(_spec(cell))
    assert not info.exact
    assert "a tie inside a group of dependent rgc/layer fields: upper bound" in info.notes
    assert info.arch_count is not None and info.arch_count >= 4


def test_a_tie_the_memory_repair_would_override_is_refused() -> None:
    # with memory, input_to_cell false forces cell_residual true: the tie would hold in about
    # half the samples only, silently
    cell = {"kind": "rgc", "cell_depth": 8, "input_to_cell": {"bool": "any"}}
    problems = _problems(base(cells={"main": {**cell, "cell_residual": {"tie": "input_to_cell"}}}))
    assert [p for p, _ in problems] == ["cells.main.cell_residual"]
    assert "memory repair would override" in problems[0][1]
    # and the other way round: cell_residual fixed false forces input_to_cell true
    other = {"kind": "rgc", "cell_depth": 8, "cell_residual": False, "gate_depth_separable": True}
    problems = _problems(
        base(cells={"main": {**other, "input_to_cell": {"tie": "gate_depth_separable"}}})
    )
    assert [p for p, _ in problems] == ["cells.main.input_to_cell"]


def test_a_tie_no_repair_can_reach_holds_in_every_sample() -> None:
    # input_to_cell fixed true: the repair never fires; without memory it never applies
    for cell in (
        {"kind": "rgc", "cell_depth": 8, "input_to_cell": True},
        {"kind": "rgc", "cell_depth": 0, "input_to_cell": {"bool": "any"}},
    ):
        spec = _spec({**cell, "cell_residual": {"tie": "input_to_cell"}})
        for seed in range(100):
            arch_cell: Any = sample(spec, seed).layer("conv2").cell
            if arch_cell.cell_depth:  # a memoryless cell resets its memory-only switches
                assert arch_cell.cell_residual == arch_cell.input_to_cell


def test_a_layer_residual_tie_the_stride_repair_would_override_is_refused() -> None:
    layers = base()["layers"]
    layers[1] = {**layers[1], "stride": {"choice": [1, 2]}, "bias": {"bool": "any"}}
    layers[1]["residual"] = {"tie": "bias"}
    problems = _problems(base(layers=layers))
    assert [p for p, _ in problems] == ["layers.1.residual"]
    assert "repair would override" in problems[0][1]


def test_describe_lists_ties_with_their_rule() -> None:
    info = describe(_spec(PAPER_TIES))
    assert [(t.label, t.rule) for t in info.ties] == [
        ("cells.main.tau_multiplier", "tied to tau_offset * -1"),
        ("cells.main.gate_multiplier", "tied to gate_offset * -1"),
    ]
    assert info.to_dict()["ties"][0] == {
        "label": "cells.main.tau_multiplier",
        "rule": "tied to tau_offset * -1",
        "condition": None,
    }

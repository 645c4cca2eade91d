"""freeze(): define-by-run sampling into valid archs, labels, repairs, determinism."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from space.arch import Arch, arch_from_data
from space.params import Boolean, Categorical, FloatRange, IntRange, SearchDomain
from space.sampling import RandomSampler, ReplaySampler, freeze, sample
from space.spec import load_spec, spec_from_data
from tests.space.spec_fixtures import EXAMPLES, base

EXAMPLE_NAMES = ["quickstart", "paper_rgc", "cell_families"]


class Scripted:
    """Answers by label from ``answers``, else the first value of the domain; records asks."""

    def __init__(self, answers: dict[str, Any] | None = None):
        self.answers = answers or {}
        self.asked: dict[str, SearchDomain] = {}

    def __call__(self, label: str, domain: SearchDomain) -> Any:
        self.asked[label] = domain
        if label in self.answers:
            return self.answers[label]
        if isinstance(domain, Categorical):
            return domain.choices[0]
        if isinstance(domain, (IntRange, FloatRange)):
            return domain.low
        return False


def test_fixed_values_never_reach_the_sampler() -> None:
    spec = spec_from_data(base())
    sampler = Scripted()
    arch = freeze(spec, sampler)
    assert sampler.asked == {}
    assert isinstance(arch, Arch)
    assert arch.layer("conv2").cell.kind == "rgc"
    assert arch.meta == {"space": "t"}
    assert arch.training is not None and arch.training.lr == 0.05


def test_every_leaf_kind_is_asked_with_its_domain_and_label() -> None:
    spec = spec_from_data(
        base(
            layers=[
                {
                    "name": "conv1",
                    "channels": {"choice": [8, 16]},
                    "kernel": {"int": [1, 5], "step": 2},
                    "bias": {"bool": "any"},
                }
            ],
            cells={},
            training={"lr": {"float": [0.01, 0.1], "log": True}},
        )
    )
    sampler = Scripted({"layers.conv1.channels": 16, "layers.conv1.kernel": 5})
    arch = freeze(spec, sampler)
    assert sampler.asked == {
        "layers.conv1.channels": Categorical((8, 16)),
        "layers.conv1.kernel": IntRange(1, 5, 2),
        "layers.conv1.bias": Boolean(),
        "training.lr": FloatRange(0.01, 0.1, True),
    }
    layer = arch.layers[0]
    assert (layer.channels, layer.kernel, layer.bias) == (16, 5, False)
    assert arch.training is not None and arch.training.lr == 0.01


ONE_OF = {
    "main": {
        "one_of": [
            {"kind": "rgc", "cell_depth": {"choice": [0, 8]}},
            {"kind": "lstm", "peepholes": {"bool": "any"}},
        ]
    }
}


def test_inactive_branch_is_never_sampled_nor_frozen() -> None:
    spec = spec_from_data(base(cells=ONE_OF))
    sampler = Scripted({"cells.main.kind": "lstm", "cells.main.lstm.peepholes": True})
    arch = freeze(spec, sampler)
    assert set(sampler.asked) == {"cells.main.kind", "cells.main.lstm.peepholes"}
    assert sampler.asked["cells.main.kind"] == Categorical(("rgc", "lstm"))
    cell = arch.layer("conv2").cell
    assert cell.kind == "lstm" and cell.peepholes is True  # type: ignore[union-attr]
    assert "cell_depth" not in arch.to_dict()["layers"][1]["cell"]


def test_shared_cell_is_sampled_once_for_all_layers() -> None:
    spec = spec_from_data(base(cells=ONE_OF))
    sampler = RandomSampler(0)
    arch = freeze(spec, sampler)
    assert arch.layer("conv2").cell == arch.layer("conv3").cell
    assert all(label.startswith("cells.main.") for label in sampler.params)


def test_per_layer_cell_is_sampled_for_each_layer() -> None:
    cells = copy.deepcopy(ONE_OF)
    cells["main"]["share"] = "per_layer"
    spec = spec_from_data(base(cells=cells))
    sampler = Scripted({"layers.conv2.cell.kind": "rgc", "layers.conv3.cell.kind": "lstm"})
    arch = freeze(spec, sampler)
    assert set(sampler.asked) == {
        "layers.conv2.cell.kind",
        "layers.conv2.cell.rgc.cell_depth",
        "layers.conv3.cell.kind",
        "layers.conv3.cell.lstm.peepholes",
    }
    assert (arch.layer("conv2").cell.kind, arch.layer("conv3").cell.kind) == ("rgc", "lstm")


def test_inline_cell_labels() -> None:
    spec = spec_from_data(
        base(
            layers=[
                {
                    "name": "conv4",
                    "channels": 8,
                    "cell": {
                        "kind": "rgc",
                        "cell_depth": 8,
                        "gate_filter_size": {"choice": [3, 5]},
                    },
                }
            ],
            cells={},
        )
    )
    sampler = Scripted()
    freeze(spec, sampler)
    assert list(sampler.asked) == ["layers.conv4.cell.gate_filter_size"]


def test_optional_layers_and_their_edges_drop_out() -> None:
    layers = base()["layers"]
    layers[2]["optional"] = True
    spec = spec_from_data(
        base(layers=layers, feedback={"candidates": [{"source": "conv3", "target": "conv2"}]})
    )
    absent = Scripted({"layers.conv3.present": False})
    arch = freeze(spec, absent)
    assert [layer.name for layer in arch.layers] == ["conv1", "conv2"]
    assert arch.feedback == () and "feedback.edges" not in absent.asked
    present = Scripted({"layers.conv3.present": True, "feedback.edges": 1})
    arch = freeze(spec, present)
    assert [(e.source, e.target) for e in arch.feedback] == [("conv3", "conv2")]


def test_feedback_rule_max_edges_and_shared_settings() -> None:
    # The encoding changed with unbiased edge sampling: a count, then per-candidate priorities
    # (it used to be one on/off per candidate, visited in order until max_edges were on).
    layers = [{"name": f"c{i}", "channels": 8, "cell": "main"} for i in range(4)]
    spec = spec_from_data(
        base(
            layers=layers,
            feedback={
                "candidates": "later_to_earlier_cells",
                "max_edges": 2,
                "kernel": {"choice": [1, 3]},
            },
        )
    )
    answers = {
        "feedback.edges": 2,
        "feedback.c3->c1.priority": 0.9,
        "feedback.c2->c0.priority": 0.8,
        "feedback.c3->c0.priority": 0.8,  # a tie with c2->c0: the earlier candidate wins
        "feedback.kernel": 3,
    }
    two = Scripted(answers)
    arch = freeze(spec, two)
    assert [(e.source, e.target) for e in arch.feedback] == [("c2", "c0"), ("c3", "c1")]
    assert {e.kernel for e in arch.feedback} == {3}
    assert two.asked["feedback.edges"] == IntRange(0, 2)
    priorities = [k for k in two.asked if k.endswith(".priority")]
    assert priorities == [
        f"feedback.c{i}->c{j}.priority" for i in range(4) for j in range(i)
    ]  # every candidate, in candidate order
    none = Scripted({"feedback.edges": 0})
    assert freeze(spec, none).feedback == ()
    assert list(none.asked) == ["feedback.edges"]  # no priorities, no settings


def test_feedback_per_edge_settings_and_overrides() -> None:
    spec = spec_from_data(
        base(
            feedback={
                "share": "per_edge",
                "activation": {"choice": ["identity", "elu"]},
                "candidates": [
                    {"source": "conv3", "target": "conv2", "enabled": True},
                    {"source": "conv3", "target": "conv1", "enabled": True, "kernel": 3},
                ],
            }
        )
    )
    sampler = Scripted({"feedback.conv3->conv1.activation": "elu"})
    arch = freeze(spec, sampler)
    assert set(sampler.asked) == {
        "feedback.conv3->conv2.activation",
        "feedback.conv3->conv1.activation",
    }
    by_target = {e.target: e for e in arch.feedback}
    assert by_target["conv1"].activation == "elu" and by_target["conv1"].kernel == 3
    assert by_target["conv2"].activation == "identity"


def test_entry_cell_is_rerouted_without_rgc_memory() -> None:
    spec = spec_from_data(
        base(
            cells={"main": {"kind": "rgc", "cell_depth": {"choice": [0, 8]}}},
            feedback={
                "candidates": [{"source": "conv3", "target": "conv2", "enabled": True}],
                "entry": "cell",
            },
        )
    )
    without = freeze(spec, Scripted({"cells.main.cell_depth": 0}))
    assert without.feedback[0].entry == "out"
    with_memory = freeze(spec, Scripted({"cells.main.cell_depth": 8}))
    assert with_memory.feedback[0].entry == "cell"


def test_rgc_memory_always_has_a_drive() -> None:
    spec = spec_from_data(
        base(
            cells={
                "main": {
                    "kind": "rgc",
                    "cell_depth": {"choice": [0, 8]},
                    "input_to_cell": {"bool": "any"},
                    "cell_residual": {"bool": "any"},
                }
            }
        )
    )
    answers = {"cells.main.cell_depth": 8, "cells.main.input_to_cell": False}
    sampler = Scripted(answers)
    cell = freeze(spec, sampler).layer("conv2").cell
    assert cell.cell_residual is True  # type: ignore[union-attr]
    assert "cells.main.cell_residual" not in sampler.asked  # forced, not sampled
    no_memory = Scripted({"cells.main.cell_depth": 0, "cells.main.input_to_cell": False})
    freeze(spec, no_memory)
    assert "cells.main.cell_residual" in no_memory.asked


def test_residual_is_off_where_the_stride_forbids_it() -> None:
    spec = spec_from_data(
        base(
            layers=[
                {
                    "name": "conv1",
                    "channels": 8,
                    "stride": {"choice": [1, 2]},
                    "residual": {"bool": "any"},
                }
            ],
            cells={},
        )
    )
    strided = Scripted({"layers.conv1.stride": 2, "layers.conv1.residual": True})
    assert freeze(spec, strided).layers[0].residual is False
    assert "layers.conv1.residual" not in strided.asked
    plain = Scripted({"layers.conv1.stride": 1, "layers.conv1.residual": True})
    assert freeze(spec, plain).layers[0].residual is True


def test_readout_one_of() -> None:
    spec = spec_from_data(
        base(
            time={
                "steps": 6,
                "readout": {"one_of": ["last", {"kind": "mean", "start": {"choice": [1, 2]}}]},
            }
        )
    )
    sampler = Scripted({"time.readout.kind": "mean", "time.readout.mean.start": 2})
    arch = freeze(spec, sampler)
    assert arch.time.readout.kind == "mean" and arch.time.readout.start == 2  # type: ignore[union-attr]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_same_seed_same_arch(name: str) -> None:
    spec = load_spec(EXAMPLES / f"{name}.yaml")
    first, again = sample(spec, 7), sample(spec, 7)
    assert first.canonical_json() == again.canonical_json()
    hashes = {sample(spec, seed).arch_hash for seed in range(12)}
    assert len(hashes) > 1


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_replay_rebuilds_a_sample(name: str) -> None:
    spec = load_spec(EXAMPLES / f"{name}.yaml")
    recorder = RandomSampler(3)
    arch = freeze(spec, recorder)
    replay = ReplaySampler(recorder.params)
    assert freeze(spec, replay).config_hash == arch.config_hash
    assert replay.asked == list(recorder.params)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_random_samples_of_every_example_validate(name: str, seed: int) -> None:
    spec = load_spec(EXAMPLES / f"{name}.yaml")
    arch = sample(spec, seed)
    # Round trip through plain data (YAML-safe) validates again and hashes the same.
    again = arch_from_data(arch.to_dict())
    assert again.arch_hash == arch.arch_hash
    assert arch.meta == {"space": name}
    assert arch.training is not None


def test_labels_are_unique_per_sample() -> None:
    spec = load_spec(EXAMPLES / "paper_rgc.yaml")
    seen: list[str] = []

    def recording(label: str, domain: SearchDomain) -> Any:
        seen.append(label)
        return RandomSampler(len(seen))(label, domain)

    freeze(spec, recording)
    assert len(seen) == len(set(seen))
    assert "cells.rgc.cell_depth" in seen and "feedback.edges" in seen

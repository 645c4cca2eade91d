"""describe(): searched parameters with labels and conditions, and architecture counts checked
against a brute-force enumeration of the define-by-run tree."""

from __future__ import annotations

from typing import Any

import pytest

from space.describe import describe
from space.params import Boolean, FloatRange, SearchDomain, finite_values
from space.sampling import RandomSampler, ReplaySampler, freeze
from space.spec import SearchSpec, load_spec, spec_from_data
from tests.space.spec_fixtures import EXAMPLES, base


def distinct_archs(spec: SearchSpec, limit: int = 20000) -> int:
    """Walk every path of the define-by-run tree (continuous leaves pinned to their low end)
    and count distinct arch hashes."""
    hashes: set[str] = set()
    pending: list[list[int]] = [[]]
    walks = 0
    while pending:
        prefix = pending.pop()
        path: list[int] = []

        def sampler(
            label: str, domain: SearchDomain, prefix: list[int] = prefix, path: list[int] = path
        ) -> Any:
            values = finite_values(domain)
            if values is None and label.endswith(".priority"):
                # an edge's priority: low or high reaches every subset of the candidates
                values = (0.0, 1.0)
            elif values is None:
                assert isinstance(domain, FloatRange)
                values = (domain.low,)
            depth = len(path)
            if depth < len(prefix):
                index = prefix[depth]
            else:
                index = 0
                pending.extend([*path, alt] for alt in range(1, len(values)))
            path.append(index)
            return values[index]

        hashes.add(freeze(spec, sampler).arch_hash)
        walks += 1
        assert walks <= limit, "space too big for brute force"
    return len(hashes)


SMALL_SPACES = {
    "leaves": base(
        layers=[
            {
                "name": "conv1",
                "channels": {"choice": [4, 8]},
                "kernel": {"int": [1, 5], "step": 2},
                "bias": {"bool": "any"},
            }
        ],
        cells={},
    ),
    "one_of shared": base(
        cells={
            "main": {
                "one_of": [
                    {"kind": "rgc", "cell_depth": {"choice": [0, 8]}},
                    {"kind": "lstm", "peepholes": {"bool": "any"}},
                    {"kind": "timedecay"},
                ]
            }
        }
    ),
    "one_of per layer": base(
        cells={
            "main": {
                "share": "per_layer",
                "one_of": [{"kind": "gru", "filter_size": {"choice": [1, 3]}}, {"kind": "none"}],
            }
        }
    ),
    "rgc drive repair": base(
        cells={
            "main": {
                "kind": "rgc",
                "cell_depth": {"choice": [0, 8]},
                "gate_filter_size": {"choice": [0, 3]},
                "input_to_cell": {"bool": "any"},
                "cell_residual": {"bool": "any"},
            }
        }
    ),
    "residual repair": base(
        layers=[
            {
                "name": "conv1",
                "channels": 8,
                "stride": {"choice": [1, 2]},
                "post_kernel": {"choice": [0, 3]},
                "residual": {"bool": "any"},
            }
        ],
        cells={},
    ),
    "optional layers and feedback": base(
        layers=[
            {"name": "conv1", "channels": 8, "cell": "main"},
            {"name": "conv2", "channels": 8, "cell": "main", "optional": True},
            {"name": "conv3", "channels": 8, "cell": "main", "optional": True},
            {"name": "conv4", "channels": {"choice": [8, 16]}, "cell": "main"},
        ],
        cells={"main": {"kind": "rgc", "out_residual": {"bool": "any"}}},
        feedback={
            "candidates": "later_to_earlier_cells",
            "max_edges": 2,
            "kernel": {"choice": [1, 3]},
        },
    ),
    "per-edge settings": base(
        feedback={
            "share": "per_edge",
            "candidates": [
                {"source": "conv3", "target": "conv2"},
                {"source": "conv3", "target": "conv1", "kernel": {"choice": [1, 3, 5]}},
            ],
            "activation": {"choice": ["identity", "elu"]},
        }
    ),
    "time and head": base(
        head={"kind": {"choice": ["fc", "conv"]}},
        time={
            "steps": {"choice": [4, 6]},
            "readout": {"one_of": ["last", {"kind": "mean", "start": {"int": [0, 2]}}]},
        },
    ),
}


# Spaces where sampled rgc settings can freeze to one canonical memoryless cell: the count is
# an upper bound, flagged as an estimate.
UPPER_BOUND = {"rgc drive repair"}


@pytest.mark.parametrize("name", list(SMALL_SPACES))
def test_count_matches_brute_force(name: str) -> None:
    spec = spec_from_data(SMALL_SPACES[name])
    info = describe(spec)
    if name in UPPER_BOUND:
        assert not info.exact
        assert info.arch_count is not None and info.arch_count >= distinct_archs(spec)
        return
    assert info.exact
    assert info.arch_count == distinct_archs(spec)


def test_quickstart_and_cell_families_counts_are_exact() -> None:
    for name, expected in (("quickstart", 160), ("cell_families", 97)):
        spec = load_spec(EXAMPLES / f"{name}.yaml")
        info = describe(spec)
        assert info.exact and info.arch_count == expected
        assert distinct_archs(spec) == expected


def test_continuous_and_huge_spaces() -> None:
    info = describe(load_spec(EXAMPLES / "paper_rgc.yaml"))
    assert info.arch_count is None  # continuous offsets and multipliers
    assert info.architectures.continuous and info.architectures.discrete > 10**12
    assert "infinite" in info.count_text()
    assert not info.exact and info.notes  # entry 'cell' re-routing makes it an upper bound
    data = info.to_dict()
    assert data["architectures"] is None and data["estimate"] is True


def test_training_is_counted_apart() -> None:
    spec = spec_from_data(base(training={"batch_size": {"choice": [32, 64]}}))
    info = describe(spec)
    assert info.arch_count == 1 and info.training.discrete == 2


def test_params_have_labels_domains_and_conditions() -> None:
    info = describe(load_spec(EXAMPLES / "quickstart.yaml"))
    by_label = {p.label: p for p in info.params}
    assert by_label["cells.main.kind"].domain == "choice rgc, lstm, timedecay"
    assert by_label["cells.main.rgc.cell_depth"].condition == "cells.main.kind == rgc"
    # one candidate edge: its count (0 or 1) is searched while conv3 is present, no priority
    assert by_label["feedback.edges"].condition == "layers.conv3.present"
    assert by_label["feedback.edges"].domain == "int 0..1"
    assert not any(label.endswith(".priority") for label in by_label)
    assert by_label["training.lr"].domain == "float 0.02..0.08 log"
    assert by_label["training.lr"].size is None


@pytest.mark.parametrize("name", ["quickstart", "paper_rgc", "cell_families"])
def test_every_sampled_label_is_described(name: str) -> None:
    spec = load_spec(EXAMPLES / f"{name}.yaml")
    described = {p.label for p in describe(spec).params}
    for seed in range(25):
        sampler = RandomSampler(seed)
        freeze(spec, sampler)
        assert set(sampler.params) <= described


def everything_on(label: str, domain: SearchDomain) -> Any:
    """Every optional layer and feedback edge present, the first value elsewhere."""
    if isinstance(domain, Boolean):
        return True
    if label == "feedback.edges":
        return domain.high  # type: ignore[union-attr]
    values = finite_values(domain)
    return values[0] if values else domain.low  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["quickstart", "paper_rgc", "cell_families"])
def test_params_are_listed_in_sampling_order(name: str) -> None:
    spec = load_spec(EXAMPLES / f"{name}.yaml")
    order = [p.label for p in describe(spec).params]
    sampler = ReplaySampler({}, fallback=everything_on)
    freeze(spec, sampler)
    positions = [order.index(label) for label in sampler.asked]
    assert positions == sorted(positions)


def test_a_field_the_repairs_always_set_is_not_listed() -> None:
    layers = [
        {"name": "conv1", "channels": 8, "stride": 2, "residual": {"bool": "any"}},
        {"name": "conv2", "channels": 8, "stride": {"choice": [1, 2]}, "residual": {"bool": "any"}},
    ]
    labels = [p.label for p in describe(spec_from_data(base(layers=layers, cells={}))).params]
    # stride 2 without a post conv: residual is always off, never sampled
    assert "layers.conv1.residual" not in labels
    assert "layers.conv2.residual" in labels

"""The papers' search space (examples/paper_rgc.yaml) contains the released median cell: replaying
its configuration through the spec gives the rgc_intermediate preset, apart from the feedback
settings, which the papers list separately (the search chose entry input, an 8x8 depth-separable
conv and elu; the released model feeds back through a plain 1x1 conv at the output)."""

from __future__ import annotations

from typing import Any

import pytest

from space.params import Categorical, FloatRange, IntRange, SearchDomain, finite_values
from space.presets import load_preset
from space.sampling import ReplaySampler, freeze
from space.spec import load_spec
from tests.space.spec_fixtures import EXAMPLES

# A transcription of neuroailab/convrnns convrnns/configs/median_rgcell_cfg.py:
# median_config_dict["model_params"] (TF functions by name, filter sizes as released: floats).
RELEASED_CELL: dict[str, Any] = {
    "tau_depth_separable": True,
    "tau_filter_size": 7.0,
    "residual_to_out_gate": False,
    "feedback_activation": "elu",
    "residual_to_cell_gate": False,
    "out_residual": True,
    "feedback_depth_separable": True,
    "tau_nonlinearity": "sigmoid",
    "ff_depth_separable": False,
    "gate_nonlinearity": "tanh",
    "cell_to_out": False,
    "input_to_cell": True,
    "cell_residual": False,
    "in_out_depth_separable": False,
    "layer_norm": False,
    "input_activation": "elu",
    "ff_filter_size": 2.0,
    "feedback_filter_size": 8.0,
    "feedback_entry": "input",
    "input_to_out": True,
    "in_out_filter_size": 3.0,
    "tau_offset": 0.9219348064291611,
    "tau_multiplier": -0.9219348064291611,
    "tau_bias": 4.147336708899556,
    "out_activation": "elu",
    "weight_decay": 0.0002033999204146308,
    "kernel_initializer": "variance_scaling",
    "kernel_initializer_kwargs": {"scale": 0.6393378386273998},
    "cell_depth": 64,
    "gate_depth_separable": True,
    "gate_filter_size": 7.0,
    "gate_offset": 0.7006566684988862,
    "gate_multiplier": -0.7006566684988862,
    "gate_bias": 2.776542926439013,
    "cell_activation": "elu",
}
RELEASED_EDGES = [
    ("conv8", "conv5"),
    ("conv9", "conv6"),
    ("conv10", "conv7"),
    ("conv7", "conv6"),
    ("conv10", "conv9"),
]
FILTER_SIZES = {"tau_filter_size", "gate_filter_size", "ff_filter_size", "in_out_filter_size"}
TIED = {"tau_multiplier", "gate_multiplier"}  # multiplier = -offset: a tie, not a parameter


def released_labels(cfg: dict[str, Any], candidates: list[tuple[str, str]]) -> dict[str, Any]:
    """The spec's parameter labels and values for the released configuration."""
    labels: dict[str, Any] = {}
    for key, value in cfg.items():
        if key in TIED or key == "kernel_initializer":
            continue
        if key == "kernel_initializer_kwargs":
            labels["cells.rgc.init_scale"] = value["scale"]
        elif key.startswith("feedback_"):
            name = key.removeprefix("feedback_").replace("filter_size", "kernel")
            labels[f"feedback.{name}"] = int(value) if name == "kernel" else value
        elif key in ("tau_bias", "gate_bias"):
            # The released code adds these biases only on the full-conv path; the median cell's
            # tau and gate convs are depth-separable, so they never applied (the preset's header
            # says the same): their effective value is 0.
            separable = cfg[f"{key.removesuffix('_bias')}_depth_separable"]
            labels[f"cells.rgc.{key}"] = 0.0 if separable else value
        else:
            labels[f"cells.rgc.{key}"] = int(value) if key in FILTER_SIZES else value
    labels["feedback.edges"] = len(RELEASED_EDGES)
    for source, target in candidates:
        on = (source, target) in RELEASED_EDGES
        labels[f"feedback.{source}->{target}.priority"] = 1.0 if on else 0.0
    return labels


def _in_domain(value: Any, domain: SearchDomain) -> bool:
    if isinstance(domain, FloatRange):
        return domain.low <= value <= domain.high
    if isinstance(domain, (IntRange, Categorical)):
        return value in (finite_values(domain) or ())
    return isinstance(value, bool)


class Checked:
    """Replays ``labels``, each inside its domain; only training may fall back to a default."""

    def __init__(self, labels: dict[str, Any]):
        self.replay = ReplaySampler(labels, fallback=self.training)
        self.outside: list[tuple[str, Any, SearchDomain]] = []

    def training(self, label: str, domain: SearchDomain) -> Any:
        assert label.startswith("training."), f"{label}: the released configuration has none"
        return domain.low if isinstance(domain, (FloatRange, IntRange)) else domain.values()[0]  # type: ignore[union-attr]

    def __call__(self, label: str, domain: SearchDomain) -> Any:
        value = self.replay(label, domain)
        if not _in_domain(value, domain):
            self.outside.append((label, value, domain))
        return value


@pytest.fixture(scope="module")
def replayed() -> Any:
    spec = load_spec(EXAMPLES / "paper_rgc.yaml")
    candidates = [(c.source, c.target) for c in spec.edge_candidates()]
    sampler = Checked(released_labels(RELEASED_CELL, candidates))
    arch = freeze(spec, sampler)
    return arch, sampler


def test_every_released_value_lies_in_the_space(replayed: Any) -> None:
    _, sampler = replayed
    assert sampler.outside == []
    unasked = set(sampler.replay.params) - set(sampler.replay.asked)
    assert unasked == set(), "every released setting is a parameter of the space"


def test_the_replay_is_the_rgc_intermediate_preset_apart_from_feedback_settings(
    replayed: Any,
) -> None:
    arch, _ = replayed
    preset = load_preset("rgc_intermediate")
    mine, theirs = arch.model_dump(mode="json"), preset.model_dump(mode="json")
    for data in (mine, theirs):
        data.pop("training")
        data.pop("meta")
        data["feedback"] = sorted((e["source"], e["target"]) for e in data["feedback"])
    assert mine == theirs
    assert arch.arch_hash != preset.arch_hash  # the feedback settings differ, as listed
    # ... and they are the search's choice for the median model
    assert {(e.entry, e.kernel, e.depth_separable, e.activation) for e in arch.feedback} == {
        ("input", 8, True, "elu")
    }


def test_the_ties_give_the_released_multipliers(replayed: Any) -> None:
    arch, _ = replayed
    cell: Any = arch.layer("conv7").cell
    assert cell.tau_multiplier == RELEASED_CELL["tau_multiplier"]
    assert cell.gate_multiplier == RELEASED_CELL["gate_multiplier"]


def test_the_papers_settings_are_the_spaces() -> None:
    spec = load_spec(EXAMPLES / "paper_rgc.yaml")
    assert spec.training.grad_clip_mode == "value"
    assert len(spec.edge_candidates()) == 21

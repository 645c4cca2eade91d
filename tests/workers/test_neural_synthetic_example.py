"""The ``realistic`` synthetic neural data behind ``examples/neural_synthetic.yaml`` (issue 22):
contrasting candidates of the example's space fit them over a span of at least 0.3, the hidden
model best at its own layer and bin, at ceilings like real V4/IT recordings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from space.arch import Arch, arch_from_data
from space.spec import NeuralFitSettings, SearchSpec
from space.spec.loading import load_spec
from workers.neural import NeuralScores, load_neural

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "neural_synthetic.yaml"


@pytest.fixture(scope="module")
def example() -> SearchSpec:
    return load_spec(EXAMPLE)


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from workers.neural.synthetic import make_synthetic

    # what the example's comment runs: convnas neural synth PATH --kind realistic
    return make_synthetic(tmp_path_factory.mktemp("neural") / "syn.npz", kind="realistic")


def settings_for(example: SearchSpec, truth: dict[str, Any]) -> NeuralFitSettings:
    """The example's own fit settings, on the generated file."""
    assert example.neural is not None
    return example.neural.model_copy(update={"data": f"neural:{truth['path']}"})


def feedforward(hidden: Arch) -> Arch:
    """The hidden arch with the example's `kind: none` cell: no memory of the image."""
    data = hidden.to_dict()
    for layer in data["layers"]:
        layer["cell"] = {"kind": "none"}
    return arch_from_data(data, "feedforward")


def fit(arch: Arch, seed: int, settings: NeuralFitSettings) -> NeuralScores:
    from space.nn import build_model
    from workers.neural import score_model

    data = load_neural(settings.path)
    return score_model(build_model(arch, seed=seed), arch, data, settings)


def test_the_hidden_model_is_a_member_of_the_example_space(
    example: SearchSpec, truth: dict[str, Any]
) -> None:
    hidden = arch_from_data(truth["hidden_arch"], "hidden")
    assert [layer.name for layer in hidden.layers] == [layer.name for layer in example.layers]
    assert hidden.input.size == example.input.size
    assert (hidden.time.steps, hidden.time.image_off) == (
        example.time.steps,
        example.time.image_off,
    )
    assert truth["bins"] == example.time.steps
    assert truth["layer"] in {layer.name for layer in hidden.layers}


def test_ceilings_are_those_of_real_recordings(example: SearchSpec, truth: dict[str, Any]) -> None:
    from workers.neural.ceiling import compute_ceiling

    settings = settings_for(example, truth)
    ceiling = compute_ceiling(load_neural(settings.path), settings.seed)
    measured = ceiling.values["IT"]
    peak = truth["bin"]
    # every neuron's true split-half reliability at the peak lies in 0.6-0.9, as V4/IT data
    low, high = truth["reliability_at_peak"]
    assert 0.6 <= low < high <= 0.9
    assert 0.6 <= measured[peak] <= 0.9
    assert abs(measured[peak] - truth["ceiling"]) < 0.05
    # the signal is spread over the bins from the latency on, and absent before it
    latency = truth["latency"]
    assert all(ceiling.value("IT", b) is None for b in range(latency))
    assert all(ceiling.value("IT", b) is not None for b in range(latency, truth["bins"]))
    assert max(range(truth["bins"]), key=measured.__getitem__) == peak


@pytest.mark.slow
def test_candidates_span_the_objective_and_the_true_cell_wins(
    example: SearchSpec, truth: dict[str, Any]
) -> None:
    settings = settings_for(example, truth)
    hidden = arch_from_data(truth["hidden_arch"], "hidden")
    scores = {
        "true": fit(hidden, truth["model_seed"], settings),
        "other weights": fit(hidden, truth["model_seed"] + 1, settings),
        "feedforward": fit(feedforward(hidden), truth["model_seed"], settings),
    }
    true = scores["true"]
    cell = (truth["layer"], truth["bin"])
    assert true.best is not None and (true.best["layer"], true.best["bin"]) == cell
    assert [(h["layer"], h["bin"]) for h in true.selection["nested"]["halves"]] == [cell] * 2
    objective = {name: s.objective for name, s in scores.items()}
    assert all(v is not None for v in objective.values()), objective
    values: dict[str, float] = {k: float(v) for k, v in objective.items() if v is not None}
    assert max(values, key=values.__getitem__) == "true"
    assert min(values, key=values.__getitem__) == "feedforward"
    assert values["true"] - values["feedforward"] >= 0.3, values
    # the hidden model's other layer, at the true bin, is worse than the true layer
    by = {(r.layer, r.bin): r.normalized for r in true.rows}
    assert all(by[(name, truth["bin"])] < by[cell] for name, _ in by if name != truth["layer"])

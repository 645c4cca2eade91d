"""The neural fit: the ceiling against its analytic value, pure noise, the best layer and bin
of synthetic data, determinism, and that held-out images never reach the PLS."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from space.arch import Arch, arch_from_data
from space.spec.neural import CEILING_FLOOR, NeuralFitSettings
from workers.neural import NeuralData, NeuralDataError, load_neural
from workers.neural.ceiling import analytic_ceiling, compute_ceiling, given_ceiling, null_se
from workers.neural.fit import fold_splits, held_out_predictions, pls_predict, split_kind
from workers.neural.score import score_features

RGC = {"kind": "rgc", "cell_depth": 8, "gate_filter_size": 3, "tau_filter_size": 3}
TINY4 = {
    "input": {"size": 32, "channels": 1},
    "classes": 8,
    "layers": [
        {"name": "conv1", "channels": 16, "kernel": 3, "pool": 2},
        *(
            {"name": n, "channels": c, "activation": "identity", "cell": RGC, "pool": 2}
            for n, c in (("conv2", 32), ("conv3", 32), ("conv4", 64))
        ),
    ],
    "time": {"steps": 8, "image_off": 4, "readout": "last"},
}


def data_of(responses: np.ndarray, labels: np.ndarray | None = None) -> NeuralData:
    n = responses.shape[1]
    return NeuralData(
        path="<test>",
        stimuli=np.zeros((n, 4, 4), dtype=np.uint8),
        responses=responses,
        regions=np.array(["IT"] * responses.shape[2]),
        bin_ms=None,
        labels=labels,
        repeated=responses.shape[0] > 1,
    )


def signal_plus_noise(n: int, neurons: int, reps: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((n, neurons))
    signal = (signal - signal.mean(0)) / signal.std(0)  # s = 1 exactly over the images
    return signal[None, :, :, None] + noise * rng.standard_normal((reps, n, neurons, 1))


def ceiling_se(rho: float, reps: int, n: int, neurons: int) -> float:
    """Sampling error of the median ceiling: the split-half r's sd (1 - r^2) / sqrt(N - 3),
    times Spearman-Brown's slope k / (1 + (k - 1) r)^2, times the median's
    sqrt(pi / 2 / neurons) (averaging over splits only lowers it)."""
    k = reps / (reps // 2)
    half = rho / (k - (k - 1) * rho)  # the split-half r whose Spearman-Brown is rho
    sd_half = (1 - half**2) / math.sqrt(n - 3)
    return sd_half * k / (1 + (k - 1) * half) ** 2 * math.sqrt(math.pi / 2 / neurons)


@pytest.mark.parametrize(("noise", "reps"), [(0.5, 4), (1.0, 4), (2.0, 6), (1.5, 5)])
def test_the_ceiling_matches_its_analytic_value(noise: float, reps: int) -> None:
    n, neurons = 200, 60
    data = data_of(signal_plus_noise(n, neurons, reps, noise, seed=reps))
    got = compute_ceiling(data, seed=0).values["IT"][0]
    # an odd count: each half averages reps // 2, the target is the average of all reps
    want = analytic_ceiling(1.0, noise**2, reps)
    assert abs(got - want) < 4 * ceiling_se(want, reps, n, neurons), (got, want)


def test_missing_repetitions_lower_the_ceiling_as_the_theory_says() -> None:
    # a third of the repetitions missing at random (NaN), at least one kept per image: the
    # ceiling targets the reliability of the mean of what is there, 1 / (1 + n E[1/r_i])
    n, neurons, reps, noise = 300, 40, 6, 1.0
    responses = signal_plus_noise(n, neurons, reps, noise, seed=4)
    rng = np.random.default_rng(5)
    drop = rng.random((reps, n, neurons, 1)) < 1 / 3
    drop[0] &= ~drop[1:].all(axis=0)  # never every repetition
    responses[drop] = np.nan
    counts = (~drop).sum(axis=0)
    want = 1 / (1 + noise**2 * float(np.mean(1 / counts)))
    got = compute_ceiling(data_of(responses), seed=0).values["IT"][0]
    effective = round(1 / float(np.mean(1 / counts)))
    assert abs(got - want) < 4 * ceiling_se(want, effective, n, neurons), (got, want)
    full = compute_ceiling(data_of(signal_plus_noise(n, neurons, reps, noise, seed=4)), seed=0)
    assert got < full.values["IT"][0]  # fewer repetitions, a lower ceiling


def test_pure_noise_has_no_normalised_fit() -> None:
    rng = np.random.default_rng(3)
    n, neurons, bins = 120, 30, 3
    data = data_of(rng.standard_normal((4, n, neurons, bins)))
    ceiling = compute_ceiling(data, seed=0)
    floor = max(CEILING_FLOOR, 3 * null_se(n, neurons))
    assert ceiling.floors["IT"] == floor
    assert all(abs(v) < floor for v in ceiling.values["IT"])
    features = {"layer": rng.standard_normal((bins, n, 50))}
    settings = NeuralFitSettings(data="x", region="IT", components=10)
    rows, _, _ = score_features(features, {b: [0] for b in range(bins)}, data, settings)
    assert [r.normalized for r in rows] == [None] * bins
    # raw held-out fits of noise hover around 0: within 4 null standard errors of a median r
    assert all(abs(r.raw) < 4 * math.sqrt(math.pi / 2 / neurons) / math.sqrt(n) for r in rows)


def test_a_given_ceiling_normalises_and_a_tiny_one_is_refused() -> None:
    data = data_of(np.zeros((1, 20, 2, 2)))
    assert given_ceiling(data, 0.5).normalize(0.2, "IT", 1) == pytest.approx(0.4)
    assert given_ceiling(data, CEILING_FLOOR / 2).normalize(0.2, "IT", 0) is None


def test_folds_partition_the_images_and_stratify_by_label() -> None:
    labels = np.repeat(np.arange(4), 10)
    splits = fold_splits(40, labels, 5, seed=0)
    assert split_kind(labels, 5) == "stratified"
    tests = np.sort(np.concatenate([te for _, te in splits]))
    assert list(tests) == list(range(40))
    for train, test in splits:
        assert not set(train) & set(test)
        assert sorted(set(labels[test])) == [0, 1, 2, 3]  # every object in every fold
    assert split_kind(np.repeat(np.arange(20), 2), 5) == "kfold"  # 2 images per object < 5


@pytest.mark.parametrize(("n", "features", "neurons"), [(80, 200, 12), (40, 6, 3), (60, 30, 1)])
def test_the_pls_is_scikit_learns(n: int, features: int, neurons: int) -> None:
    """Same predictions as PLSRegression(scale=False) run to convergence."""
    import warnings

    from sklearn.cross_decomposition import PLSRegression

    rng = np.random.default_rng(n)
    x, x_test = rng.standard_normal((n, features)), rng.standard_normal((10, features))
    y = x @ rng.standard_normal((features, neurons)) / 10 + rng.standard_normal((n, neurons))
    k = min(10, features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = PLSRegression(k, scale=False, max_iter=5000, tol=1e-14).fit(x, y)
    want = reference.predict(x_test).reshape(10, -1)
    np.testing.assert_allclose(pls_predict(x, y, x_test, k), want, rtol=1e-5, atol=1e-5)


def test_held_out_images_never_reach_the_fit() -> None:
    """Each image is predicted by a PLS fit without it: changing the responses of a fold's
    held-out images leaves their predictions unchanged (and changing training images' does
    not), so the fit cannot see what it is scored on."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 30))
    y = x @ rng.standard_normal((30, 5)) + 0.1 * rng.standard_normal((60, 5))
    splits = fold_splits(60, None, 5, seed=0)
    before = held_out_predictions(x, y, splits, components=8)
    train, test = splits[0]
    y_test_changed = y.copy()
    y_test_changed[test] = rng.standard_normal((len(test), 5)) * 100
    after = held_out_predictions(x, y_test_changed, splits, components=8)
    np.testing.assert_array_equal(after[test], before[test])
    y_train_changed = y.copy()
    y_train_changed[train[:5]] += 10.0
    assert not np.allclose(held_out_predictions(x, y_train_changed, splits, 8)[test], before[test])


def test_independent_held_out_responses_collapse_the_fit() -> None:
    """Responses that are a function of the features fit well; the same features against
    responses drawn independently of the images fit near zero."""
    rng = np.random.default_rng(1)
    n, neurons = 100, 20
    x = rng.standard_normal((n, 40))
    related = x @ rng.standard_normal((40, 3)) @ rng.standard_normal((3, neurons))  # rank 3
    settings = NeuralFitSettings(data="x", components=10)
    steps = {0: [0]}
    good = data_of(related[None, :, :, None].repeat(2, axis=0))
    rows, _, _ = score_features({"l": x[None]}, steps, good, settings)
    assert rows[0].raw > 0.9
    independent = data_of(rng.standard_normal((2, n, neurons, 1)))
    rows, _, _ = score_features({"l": x[None]}, steps, independent, settings)
    assert abs(rows[0].raw) < 0.15


@pytest.mark.slow
def test_the_nested_objective_is_centred_on_unrelated_signal_and_the_maximum_is_not() -> None:
    # reliable responses (ceiling about 0.8) that no feature predicts: the honest objective is
    # 0; the best of 12 cells scored on the images that chose it is biased upward
    from workers.neural.score import _best, nested_objective

    nested, maxima = [], []
    for draw in range(20):
        rng = np.random.default_rng(100 + draw)
        n, neurons, bins = 120, 20, 3
        signal = rng.standard_normal((n, neurons, 1)).repeat(bins, axis=2)
        data = data_of(signal[None] + rng.standard_normal((4, n, neurons, bins)), np.arange(n) % 6)
        features = {f"l{i}": rng.standard_normal((bins, n, 50)) for i in range(4)}
        settings = NeuralFitSettings(data="x", components=10)
        rows, ceil, region = score_features(features, {b: [b] for b in range(bins)}, data, settings)
        nested.append(nested_objective(features, data, settings, region, ceil)["objective"])
        maxima.append(_best(rows, region)["normalized"])  # type: ignore[index]
    se = np.std(nested, ddof=1) / np.sqrt(len(nested))
    assert abs(np.mean(nested)) < 2 * se, (np.mean(nested), se)
    assert np.mean(maxima) > 3 * np.std(maxima, ddof=1) / np.sqrt(len(maxima))


def test_the_brainscore_protocol_reproduces_a_hand_computed_score() -> None:
    # computed here independently: scikit-learn's splits and PLS, scipy's r, per split the
    # median over neurons, then the mean over the 10 splits
    from scipy.stats import pearsonr
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.model_selection import StratifiedShuffleSplit

    from workers.neural.fit import fit_layer_bin

    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    x = rng.standard_normal((60, 6))
    y = x @ rng.standard_normal((6, 4)) + 2.0 * rng.standard_normal((60, 4))
    splitter = StratifiedShuffleSplit(n_splits=10, test_size=0.1, random_state=1)
    by_split = []
    for train, test in splitter.split(x, labels):
        pred = PLSRegression(2, scale=False).fit(x[train], y[train]).predict(x[test])
        by_split.append(np.median([pearsonr(pred[:, k], y[test, k])[0] for k in range(4)]))
    settings = NeuralFitSettings(data="x", components=2, cv="brainscore", seed=1)
    # (scikit-learn's power iteration stops at a tolerance of 1e-6: agreement to about 1e-5)
    assert fit_layer_bin(x, y, labels, settings) == pytest.approx(np.mean(by_split), abs=1e-4)
    kfold = NeuralFitSettings(data="x", components=2, seed=1)
    assert fit_layer_bin(x, y, labels, kfold) != pytest.approx(np.mean(by_split), abs=1e-3)


def test_halves_are_disjoint_cover_the_images_and_split_each_label() -> None:
    from workers.neural.score import _halves

    labels = np.array([0] * 7 + [1] * 6 + [2] * 5)
    first, second = _halves(len(labels), labels, seed=3)
    assert sorted([*first, *second]) == list(range(len(labels)))
    for value in range(3):
        counts = [int((labels[h] == value).sum()) for h in (first, second)]
        assert abs(counts[0] - counts[1]) <= 1
    assert abs(len(first) - len(second)) <= 1
    again = _halves(len(labels), labels, seed=3)
    assert [list(h) for h in again] == [list(first), list(second)]


# --------------------------------------------------------------------------------------------
# with a model (torch)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny4() -> Arch:
    return arch_from_data(TINY4)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory, tiny4: Arch) -> dict[str, Any]:
    from workers.neural.synthetic import make_synthetic

    path = tmp_path_factory.mktemp("neural") / "synth.npz"
    return make_synthetic(path, arch=tiny4, layer="conv3", bin=3, bins=5, n_images=160)


@pytest.fixture(scope="module")
def scored(tiny4: Arch, synthetic: dict[str, Any]) -> Any:
    from space.nn import build_model
    from workers.neural import score_model

    data = load_neural(synthetic["path"])
    settings = NeuralFitSettings(data=synthetic["path"], region="IT", layers="all")
    model = build_model(tiny4, seed=synthetic["model_seed"])
    return score_model(model, tiny4, data, settings), model, data, settings


@pytest.mark.slow
def test_synthetic_responses_fit_best_at_their_layer_and_bin(
    synthetic: dict[str, Any], scored: Any
) -> None:
    scores = scored[0]
    assert scores.best["layer"] == "conv3" and scores.best["bin"] == 3
    # the objective is nested: each half of the images chose conv3 at bin 3 for the other
    nested = scores.selection["nested"]
    assert [(h["layer"], h["bin"]) for h in nested["halves"]] == [("conv3", 3)] * 2
    assert scores.objective == nested["objective"] > 0.5
    assert scores.selection["max"] == scores.best["normalized"]
    assert scores.to_json()["selection"]["method"] == "nested"
    # the true ceiling of the response bin, within its sampling error; the others are noise
    ceiling = {c["bin"]: c for c in scores.ceiling}
    want = synthetic["ceiling"]
    assert abs(ceiling[3]["value"] - want) < 4 * ceiling_se(want, 4, 160, 40)
    assert [ceiling[b]["usable"] for b in range(5)] == [False, False, False, True, False]
    # a fit cannot beat the signal itself: raw <= sqrt(ceiling) (sampling slack)
    assert 0.6 < scores.best["raw"] <= synthetic["best_raw"] + 0.03
    by = {(r.layer, r.bin): r for r in scores.rows}
    assert by[("conv4", 2)].raw == 0.0  # conv4 first sees the image at step 3
    layer_fits = {layer: by[(layer, 3)].raw for layer in ("conv2", "conv3", "conv4")}
    assert max(layer_fits, key=layer_fits.__getitem__) == "conv3"
    assert len(scores.rows) == 4 * 5  # layers x bins x one region
    doc = scores.to_json()
    assert doc["rows"][0].keys() >= {"layer", "region", "bin", "bin_ms", "raw", "normalized"}


@pytest.mark.slow
def test_identical_results_with_one_seed(tiny4: Arch, scored: Any) -> None:
    from workers.neural import score_model

    first, model, data, settings = scored
    again = score_model(model, tiny4, data, settings)
    assert [r.to_json() for r in again.rows] == [r.to_json() for r in first.rows]
    assert again.ceiling == first.ceiling and again.best == first.best


@pytest.mark.slow
def test_pure_noise_data_never_give_a_confident_fit(tmp_path: Path, tiny4: Arch) -> None:
    from space.nn import build_model
    from workers.neural import score_model
    from workers.neural.synthetic import make_synthetic

    truth = make_synthetic(tmp_path / "noise.npz", kind="noise", bins=4, n_images=100)
    assert truth["ceiling"] == 0.0
    data = load_neural(truth["path"])
    settings = NeuralFitSettings(data=truth["path"], components=10)
    scores = score_model(build_model(tiny4, seed=0), tiny4, data, settings)
    assert scores.objective is None and scores.best is None
    assert all(r.normalized is None for r in scores.rows)
    assert not any(c["usable"] for c in scores.ceiling)


def test_bins_past_the_unroll_and_unknown_layers_are_named(tiny4: Arch) -> None:
    from space.nn import build_model
    from workers.neural.features import extract_features

    data = data_of(np.zeros((2, 10, 1, 3)))
    model = build_model(tiny4, seed=0)
    late = NeuralFitSettings(data="x", steps_per_bin=3)  # bin 2 needs steps 6..8 of 0..7
    with pytest.raises(NeuralDataError, match=r"neural.steps_per_bin: 3 bins of 3 step\(s\)"):
        extract_features(model, tiny4, data, late)
    with pytest.raises(NeuralDataError, match=r"neural\.layers: no layer 'conv9'"):
        extract_features(model, tiny4, data, NeuralFitSettings(data="x", layers=["conv9"]))
    with pytest.raises(NeuralDataError, match=r"preprocessing\.input_size"):
        extract_features(
            model,
            tiny4,
            data,
            late.model_copy(update={"steps_per_bin": 1}),
            {"input_size": 64, "channels": 1, "mean": [0.0], "std": [1.0]},
        )


def test_features_are_bounded_and_averaged_over_a_bins_steps(tiny4: Arch) -> None:
    from space.nn import build_model
    from workers.neural.features import extract_features

    rng = np.random.default_rng(0)
    stimuli = rng.integers(0, 255, (6, 20, 20), dtype=np.uint8)
    data = NeuralData("x", stimuli, np.zeros((2, 6, 1, 2)), np.array(["IT"]), None, None, True)
    model = build_model(tiny4, seed=0)
    wide = NeuralFitSettings(data="x", layers="all", max_features=100)
    feats, steps = extract_features(model, tiny4, data, wide)
    assert {k: v.shape for k, v in feats.items()} == {
        "conv1": (2, 6, 64),  # 16 channels pooled to a 2x2 grid (16 * 9 > 100)
        "conv2": (2, 6, 32),  # 32 channels: a 1x1 grid
        "conv3": (2, 6, 32),
        "conv4": (2, 6, 64),
    }
    assert steps == {0: [0], 1: [1]}
    narrow = NeuralFitSettings(data="x", layers=["conv4"], max_features=20, steps_per_bin=2)
    feats2, steps2 = extract_features(model, tiny4, data, narrow)
    assert feats2["conv4"].shape == (2, 6, 20)  # 64 channels projected to 20
    assert steps2 == {0: [0, 1], 1: [2, 3]}
    one = NeuralFitSettings(data="x", layers=["conv4"], max_features=20)
    per_step, _ = extract_features(model, tiny4, data_of_steps(data, 4), one)
    np.testing.assert_allclose(
        feats2["conv4"][1], per_step["conv4"][2:4].mean(axis=0), rtol=1e-5, atol=1e-6
    )


def data_of_steps(data: NeuralData, bins: int) -> NeuralData:
    responses = np.zeros((2, data.n_images, 1, bins))
    return NeuralData("x", data.stimuli, responses, data.regions, None, None, True)


@pytest.mark.slow  # importing torch's compiler takes seconds
def test_a_compiled_model_gives_the_same_features(tiny4: Arch) -> None:
    """The trainable may compile the model: the fit runs its eager forward (hooks fire)."""
    from space.nn import build_model
    from workers.neural.features import extract_features

    rng = np.random.default_rng(1)
    stimuli = rng.integers(0, 255, (4, 32, 32), dtype=np.uint8)
    data = NeuralData("x", stimuli, np.zeros((2, 4, 1, 4)), np.array(["IT"]), None, None, True)
    settings = NeuralFitSettings(data="x", layers=["conv2", "conv3"])
    eager, _ = extract_features(build_model(tiny4, seed=3), tiny4, data, settings)
    compiled, _ = extract_features(build_model(tiny4, seed=3, compile=True), tiny4, data, settings)
    for name in eager:
        np.testing.assert_array_equal(eager[name], compiled[name])


def test_features_constant_up_to_rounding_have_no_fit() -> None:
    """A layer the image has not reached: equal outputs up to float32 rounding fit 0."""
    rng = np.random.default_rng(2)
    n = 40
    x = (np.ones((n, 20)) + 1e-8 * rng.standard_normal((n, 20))).astype(np.float32)
    y = rng.standard_normal((n, 3))
    data = data_of(y[None, :, :, None].repeat(2, axis=0))
    settings = NeuralFitSettings(data="x", components=5)
    rows, _, _ = score_features({"l": x[None]}, {0: [0]}, data, settings)
    assert rows[0].raw == 0.0

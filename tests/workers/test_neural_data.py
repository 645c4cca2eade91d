"""Neural data sets: every bad file is a named error; the settings' data reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from space.spec.datasets import neural_path, parse_neural_ref
from space.spec.neural import NeuralFitSettings
from workers.neural import NeuralDataError, load_neural

N, NEURONS, BINS, REPS = 12, 3, 2, 4


def arrays(**change: Any) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {
        "stimuli": rng.integers(0, 255, (N, 8, 8), dtype=np.uint8),
        "responses": rng.standard_normal((REPS, N, NEURONS, BINS)).astype(np.float32),
        "regions": np.array(["V4", "IT", "IT"]),
        "bin_ms": np.array([70.0, 80.0]),
        "labels": np.arange(N) % 3,
    }
    out.update(change)
    return {k: v for k, v in out.items() if v is not None}


def write(tmp_path: Path, **change: Any) -> Path:
    path = tmp_path / "neural.npz"
    np.savez(path, **arrays(**change))
    return path


def error_of(path: Path, **kwargs: Any) -> str:
    with pytest.raises(NeuralDataError) as info:
        load_neural(path, **kwargs)
    return str(info.value)


def test_a_good_file_loads(tmp_path: Path) -> None:
    data = load_neural(f"neural:{write(tmp_path)}")
    assert (data.reps, data.n_images, data.neurons, data.bins) == (REPS, N, NEURONS, BINS)
    assert data.region_names == ["V4", "IT"]
    assert list(data.region_index("IT")) == [1, 2]
    assert data.mean_responses().shape == (N, NEURONS, BINS)
    assert data.repeated and data.bin_label(1) == 80.0


def test_without_regions_every_neuron_is_in_one_region(tmp_path: Path) -> None:
    data = load_neural(write(tmp_path, regions=None, bin_ms=None, labels=None))
    assert data.region_names == ["all"] and data.bin_label(0) is None


def test_pickled_arrays_are_refused(tmp_path: Path) -> None:
    regions = np.array(["V4", "IT", "IT"], dtype=object)
    message = error_of(write(tmp_path, regions=regions))
    assert message.startswith("neural.regions: is a pickled (object) array")


def test_nan_is_a_missing_repetition_and_the_mean_skips_it(tmp_path: Path) -> None:
    responses = arrays()["responses"].copy()
    responses[1, 4, 2, 0] = np.nan
    data = load_neural(write(tmp_path, responses=responses))
    kept = np.delete(responses[:, 4, 2, 0], 1)
    assert data.mean_responses()[4, 2, 0] == pytest.approx(kept.mean())
    assert np.isfinite(data.mean_responses()).all()


def test_non_finite_responses_name_the_array_and_index(tmp_path: Path) -> None:
    responses = arrays()["responses"].copy()
    responses[:, 4, 2, 0] = np.nan  # no repetition left for that image, neuron and bin
    assert error_of(write(tmp_path, responses=responses)) == (
        "neural.responses: has no finite repetition at [:, 4, 2, 0]"
    )
    responses = arrays()["responses"].copy()
    responses[2, 5, 1, 1] = np.inf
    assert error_of(write(tmp_path, responses=responses)) == (
        "neural.responses: contains infinity at [2, 5, 1, 1]"
    )
    averaged = arrays()["responses"][0].copy()  # no repetitions: a NaN is no missing one
    averaged[3, 0, 1] = np.nan
    assert "contains NaN at [3, 0, 1]" in error_of(write(tmp_path, responses=averaged), ceiling=0.5)
    bins = np.array([70.0, np.inf])
    assert "neural.bin_ms: contains infinity at [1]" in error_of(write(tmp_path, bin_ms=bins))


def test_one_repetition_needs_a_given_ceiling(tmp_path: Path) -> None:
    one = arrays()["responses"][:1]
    message = error_of(write(tmp_path, responses=one))
    assert message.startswith("neural.responses: one repetition per image")
    assert "give the ceiling" in message
    averaged = write(tmp_path, responses=arrays()["responses"][0])
    assert "no repetitions axis" in error_of(averaged)
    data = load_neural(averaged, ceiling=0.7)
    assert not data.repeated and data.reps == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stimuli": np.zeros((N, 8, 8), dtype=np.float32)}, "neural.stimuli: must be uint8"),
        ({"stimuli": np.zeros((N, 8, 8, 2), dtype=np.uint8)}, "neural.stimuli: must have 1, 3"),
        ({"responses": np.zeros((REPS, N + 1, NEURONS, BINS))}, "neural.responses: must hold 12"),
        ({"responses": np.zeros((N, NEURONS))}, "neural.responses: must be a float array"),
        ({"responses": np.array(["a"] * N)}, "neural.responses: must be a float array"),
        ({"regions": np.array(["V4", "IT"])}, "neural.regions: must be 3 unicode strings"),
        ({"regions": np.array(["V4", " ", "IT"])}, "neural.regions: neuron 1 has an empty"),
        ({"bin_ms": np.array([1.0, 2.0, 3.0])}, "neural.bin_ms: must be 2 numbers"),
        ({"labels": np.arange(N + 1)}, "neural.labels: must be 12 integers or strings"),
        ({"labels": np.linspace(0, 1, N)}, "neural.labels: must be 12 integers or strings"),
        ({"responses": None}, "neural.responses: is missing from the file"),
        ({"extra": np.zeros(3)}, "neural: unknown array 'extra'"),
    ],
)
def test_bad_arrays_are_named(tmp_path: Path, change: dict[str, Any], field: str) -> None:
    assert error_of(write(tmp_path, **change)).startswith(field)


def test_too_few_images_for_the_folds(tmp_path: Path) -> None:
    message = error_of(write(tmp_path), folds=7)
    assert message.startswith("neural.stimuli: too few images for 7-fold cross-validation")


def test_not_a_file_and_not_an_npz(tmp_path: Path) -> None:
    assert error_of(tmp_path / "missing.npz").startswith("neural: no such file")
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    assert error_of(bad).startswith("neural: not a readable npz file")


def test_settings_normalise_the_data_reference() -> None:
    assert NeuralFitSettings(data="x/rec.npz").data == "neural:x/rec.npz"
    settings = NeuralFitSettings(data=" neural: x/rec.npz")
    assert settings.path == "x/rec.npz" and settings.data == "neural:x/rec.npz"
    assert list(NeuralFitSettings(data="a", offset=2, steps_per_bin=3).bin_steps(1)) == [5, 6, 7]
    assert neural_path("NEURAL:a.npz") == "a.npz"
    assert str(parse_neural_ref({"name": "neural", "path": "a.npz"})) == "neural:a.npz"
    with pytest.raises(ValidationError, match="training data set"):
        NeuralFitSettings(data="npz:x.npz")
    with pytest.raises(ValidationError, match="needs a path"):
        NeuralFitSettings(data="neural:")
    with pytest.raises(ValidationError, match="layer listed twice: conv2"):
        NeuralFitSettings(data="a", layers=["conv2", "conv2"])
    with pytest.raises(ValidationError):
        NeuralFitSettings(data="a", folds=1)
    with pytest.raises(ValidationError):
        NeuralFitSettings(data="a", unknown=1)  # type: ignore[call-arg]


def test_a_neural_file_is_not_a_training_data_set() -> None:
    from workers.data import parse_dataset_ref
    from workers.errors import DatasetError

    for ref in ("neural:rec.npz", {"name": "neural", "path": "rec.npz"}):
        with pytest.raises(DatasetError, match="is a neural data set: models are fit to it"):
            parse_dataset_ref(ref)


def test_a_header_claiming_a_huge_array_is_refused_before_reading(tmp_path: Path) -> None:
    """responses.npy claiming 38 TB while holding 192 bytes: refused from the header alone."""
    import io
    import zipfile

    path = tmp_path / "bomb.npz"
    np.savez(path, stimuli=arrays()["stimuli"])
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (4, N, 10**6, 10**5)}
    )
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("responses.npy", header.getvalue() + b"\0" * 64)
    message = error_of(path)
    assert message.startswith("neural.responses: claims 38400000000000 bytes but holds 192")

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from workers.data import load_dataset, parse_dataset_ref
from workers.data.cache import data_dir
from workers.data.pathfinder import generate as pathfinder
from workers.errors import DatasetError


def test_digits_loads_upsampled_and_split() -> None:
    d = load_dataset("digits", input_size=16, channels=3, classes=10, seed=0)
    assert d.x_train.shape[1:] == (3, 16, 16) and d.x_train.dtype == torch.uint8
    assert len(d.y_train) + len(d.y_val) == 1797
    assert len(d.y_val) == round(1797 * 0.2)
    assert set(d.y_train.tolist()) == set(range(10))
    x = d.batch(d.x_train[:256])
    assert x.dtype == torch.float32 and abs(float(x.mean())) < 0.2


def test_split_is_deterministic_by_seed() -> None:
    a = load_dataset("digits", 8, 1, 10, seed=1)
    b = load_dataset("digits", 8, 1, 10, seed=1)
    c = load_dataset("digits", 8, 1, 10, seed=2)
    assert torch.equal(a.y_val, b.y_val) and torch.equal(a.x_train, b.x_train)
    assert not torch.equal(a.y_val, c.y_val)
    # a reference's own seed wins over the caller's (one split for every trial of a search)
    d = load_dataset({"name": "digits", "seed": 1}, 8, 1, 10, seed=7)
    assert torch.equal(a.y_val, d.y_val)


def test_shapes_generated_and_cached(data_cache: Path) -> None:
    d = load_dataset("shapes:samples=200,classes=4", 16, 1, 4, seed=0)
    assert d.classes == 4 and len(d.y_train) == 160
    assert data_dir() == data_cache
    files = list(data_cache.glob("shapes-*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as f:
        assert f["x"].shape == (200, 16, 16)
    again = load_dataset("shapes:samples=200,classes=4", 16, 1, 4, seed=0)
    assert torch.equal(again.x_val, d.x_val)


def test_pathfinder_balanced_and_honest() -> None:
    x, y = pathfinder(200, 32, 0.6, 2, 0.6, seed=3)
    assert x.shape == (200, 32, 32) and x.dtype == np.uint8
    assert y.sum() == 100
    # no trivial cue: both classes have about the same amount of ink
    ink = (x > 0).mean(axis=(1, 2))
    assert abs(ink[y == 1].mean() - ink[y == 0].mean()) < 0.01
    x2, y2 = pathfinder(200, 32, 0.6, 2, 0.6, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    d = load_dataset({"name": "pathfinder", "samples": 100, "difficulty": "easy"}, 24, 1, 2)
    assert d.input_shape == (1, 24, 24) and d.class_names == ("disconnected", "connected")


def test_imagefolder(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for label in ("cat", "dog", "eel"):
        (tmp_path / label).mkdir()
        for i in range(4):
            pixels = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f"{i}.png")
    d = load_dataset(f"imagefolder:{tmp_path}", 12, 3, 3, seed=0)
    assert d.class_names == ("cat", "dog", "eel")
    assert d.input_shape == (3, 12, 12) and len(d.y_train) + len(d.y_val) == 12
    gray = load_dataset(f"imagefolder:{tmp_path}", 12, 1, 3, seed=0)
    assert gray.input_shape == (1, 12, 12)


@pytest.mark.parametrize("shape", [(30, 10, 10), (30, 10, 10, 3)])
def test_npz(tmp_path: Path, shape: tuple[int, ...]) -> None:
    path = tmp_path / "data.npz"
    x = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    np.savez(path, x=x, y=np.arange(30) % 3)
    d = load_dataset(f"npz:{path}", 16, 3, 3, seed=0)
    assert d.input_shape == (3, 16, 16) and d.classes == 3


def test_bad_references_are_clear(tmp_path: Path) -> None:
    cases = {
        "mnist": "unknown dataset",
        "npz": "needs a path",
        f"npz:{tmp_path / 'missing.npz'}": "no such file",
        "pathfinder:difficulty=extreme": "difficulty",
        "shapes:colour=red": "accepts options",
        "digits:val_fraction=1.5": "val_fraction",
    }
    for ref, words in cases.items():
        with pytest.raises(DatasetError, match=words):
            load_dataset(ref, 8, 1, 10)
    with pytest.raises(
        DatasetError, match=r"classes: dataset digits has 10 classes but the arch has 5"
    ):
        load_dataset("digits", 8, 1, 5)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a readable npz"):
        load_dataset(f"npz:{junk}", 8, 1, 2)
    pickled = tmp_path / "objects.npz"
    np.savez(pickled, x=np.array([object()], dtype=object), y=np.zeros(1, dtype=np.int64))
    with pytest.raises(DatasetError, match="not a readable npz"):
        load_dataset(f"npz:{pickled}", 8, 1, 2)
    floats = tmp_path / "floats.npz"
    np.savez(floats, x=np.zeros((4, 8, 8), dtype=np.float32), y=np.arange(4) % 2)
    with pytest.raises(DatasetError, match=r"dataset.x: must be uint8"):
        load_dataset(f"npz:{floats}", 8, 1, 2)
    (tmp_path / "folder" / "a").mkdir(parents=True)
    (tmp_path / "folder" / "b").mkdir()
    (tmp_path / "folder" / "a" / "x.png").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=r"has no images|cannot read image"):
        load_dataset(f"imagefolder:{tmp_path / 'folder'}", 8, 1, 2)


def test_reference_forms_agree() -> None:
    a = parse_dataset_ref("pathfinder:samples=100,seed=2,limit=50")
    b = parse_dataset_ref(
        {"name": "pathfinder", "seed": 2, "limit": 50, "options": {"samples": 100}}
    )
    assert a == b and a.seed == 2 and a.limit == 50 and dict(a.options) == {"samples": 100}


def test_pathfinder_too_small_is_an_error_not_a_hang() -> None:
    with pytest.raises(DatasetError, match=r"input\.size: pathfinder needs images of at least 16"):
        load_dataset("pathfinder", 8, 1, 2)
    with pytest.raises(DatasetError, match="cannot fit 3 separate curves"):
        load_dataset("pathfinder:size=16,length=3.0,samples=8", 16, 1, 2)
    small = load_dataset("pathfinder:size=16,samples=40", 8, 1, 2)
    assert small.input_shape == (1, 8, 8)


def test_preprocess_replays_the_recorded_pipeline_on_raw_images() -> None:
    """``preprocess(raw, data.preprocessing())`` gives exactly the tensors the loop trained on,
    here with a channel conversion (RGB -> gray) and a resize (12 -> 8 px)."""
    import numpy as np
    import torch

    from workers.data import preprocess
    from workers.data.prepare import _split, prepare
    from workers.data.raw import RawData

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(40, 12, 12, 3), dtype=np.uint8)
    y = np.arange(40) % 2
    data = prepare(RawData(x, y, ("a", "b")), "rgb", 8, 1, 0.25, seed=3)
    record = data.preprocessing()
    assert record["source_channels"] == 3 and "luma" in record["channel_conversion"]
    _, val = _split(40, 0.25, 3)
    expected = data.batch(data.x_val)
    assert torch.allclose(preprocess(x[val], record), expected, atol=1e-6)
    with pytest.raises(DatasetError, match=r"preprocessing\.mean"):
        preprocess(x[val], {"input_size": 8, "channels": 1, "std": [1.0]})


def test_pathfinder_too_small_suggests_a_fix() -> None:
    with pytest.raises(DatasetError) as caught:
        pathfinder(256, 16, 0.9, 3, 0.6, 0)  # hard's curves at 16 px
    message = str(caught.value)
    assert "4 separate curves of length 0.9 in 16x16" in message
    assert "pathfinder:length=0.45" in message and "--input-size 32" in message

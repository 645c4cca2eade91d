"""The path policy where a worker opens files (issue 18): a served search's files are confined to
its data roots at the moment they are opened, so a file inside a root that is swapped for a
symlink after the submit check is refused, not read; each image of a folder as well.

The hostile cases are ``tests/hostile/paths/make_hostile_paths.py`` (README beside it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from space.paths import OUTSIDE_ROOTS
from space.spec.neural import NeuralFitSettings
from tests.hostile.paths import make_hostile_paths as hostile
from workers.data import check_dataset, load_dataset
from workers.errors import DatasetError, WorkerInputError
from workers.neural import NeuralDataError, load_neural
from workers.neural_trial import load_cached
from workers.trainable import run_trial, trial_roots


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


def _npz(path: Path, classes: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=np.zeros((8, 8, 8), np.uint8), y=np.arange(8) % classes)
    return path


def _refused(ref: str, roots: list[Path]) -> str:
    """The message of loading ``ref`` confined to ``roots`` (it must be refused), after
    checking that the torch-free check refuses it alike."""
    problems = check_dataset(ref, input_size=8, channels=1, classes=2, roots=roots)
    assert [p.message for p in problems] == [OUTSIDE_ROOTS], problems
    with pytest.raises(DatasetError) as info:
        load_dataset(ref, 8, 1, 2, roots=roots)
    assert info.value.field == "dataset.path"
    return info.value.message


def test_an_npz_swapped_for_a_symlink_after_the_check_is_refused(
    root: Path, tmp_path: Path
) -> None:
    inside = _npz(root / "d.npz")
    ref = f"npz:{inside}"
    assert check_dataset(ref, input_size=8, channels=1, classes=2, roots=[root]) == []
    assert load_dataset(ref, 8, 1, 2, roots=[root]).x_train.shape[0] > 0
    hostile.swap_for_symlink(inside, _npz(tmp_path / "outside" / "secret.npz"))
    assert _refused(ref, [root]) == OUTSIDE_ROOTS
    assert load_dataset(ref, 8, 1, 2).x_train.shape[0] > 0  # a local search: unconfined


def test_an_image_linked_outside_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    folder = hostile.imagefolder(root / "images")
    ref = f"imagefolder:{folder}"
    assert check_dataset(ref, input_size=8, channels=1, classes=2, roots=[root]) == []
    outside = hostile.imagefolder(tmp_path / "outside")
    hostile.swap_for_symlink(folder / "class1" / "2.png", outside / "class0" / "0.png")
    assert _refused(ref, [root]) == OUTSIDE_ROOTS


def test_a_class_folder_linked_outside_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    folder = hostile.imagefolder(root / "images")
    outside = hostile.imagefolder(tmp_path / "outside")
    hostile.swap_for_symlink(folder / "class1", outside / "class1")
    assert _refused(f"imagefolder:{folder}", [root]) == OUTSIDE_ROOTS


def test_an_imagefolder_swapped_for_a_symlink_is_refused(root: Path, tmp_path: Path) -> None:
    folder = hostile.imagefolder(root / "images")
    hostile.swap_for_symlink(folder, hostile.imagefolder(tmp_path / "outside"))
    assert _refused(f"imagefolder:{folder}", [root]) == OUTSIDE_ROOTS


def test_neural_data_swapped_for_a_symlink_is_refused_even_when_cached(
    root: Path, tmp_path: Path
) -> None:
    inside = hostile.neural_file(root / "n.npz", regions=["V4", "IT", "IT"])
    settings = NeuralFitSettings(data=f"neural:{inside}", folds=2)
    assert load_neural(inside, roots=[root]).neurons == 3
    assert load_cached(settings, [root]).neurons == 3  # cached for the next trial
    hostile.swap_for_symlink(inside, hostile.neural_file(tmp_path / "secret.npz"))
    for load in (lambda: load_neural(inside, roots=[root]), lambda: load_cached(settings, [root])):
        with pytest.raises(NeuralDataError) as info:
            load()
        assert info.value.message == OUTSIDE_ROOTS
    assert load_cached(settings).neurons == 4  # a local search reads where the link leads


def test_trial_roots_come_from_the_config(root: Path) -> None:
    assert trial_roots({}) is None
    assert trial_roots({"data_roots": [str(root / "..")]}) == [root.parent.resolve()]
    for bad in ("/data", ["data"], [3]):
        with pytest.raises(WorkerInputError, match=r"config\.data_roots"):
            trial_roots({"data_roots": bad})


def test_a_trial_of_a_served_search_fails_on_a_file_outside_its_roots(
    root: Path, tmp_path: Path
) -> None:
    from space.arch import arch_from_data

    arch = arch_from_data(
        {
            "input": {"size": 8, "channels": 1},
            "classes": 2,
            "time": {"steps": 2},
            "layers": [{"name": "conv1", "channels": 4}],
        }
    )
    outside = _npz(tmp_path / "outside" / "secret.npz")
    reports: list[dict[str, Any]] = []
    config = {"arch": arch.to_dict(), "dataset": f"npz:{outside}", "data_roots": [str(root)]}
    assert run_trial(config, lambda metrics, _: reports.append(metrics)) is None
    [report] = reports
    assert report["status"] == "failed" and OUTSIDE_ROOTS in report["reason"]

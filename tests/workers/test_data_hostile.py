"""Hostile datasets (issue 9) are refused with named errors, quickly and in bounded memory, by
the loaders, by the torch-free ``check_dataset`` and by ``convnas train``. The corpus is
``tests/hostile/data/make_hostile_data.py``."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.hostile.data import make_hostile_data as hostile
from workers.data import check_dataset
from workers.errors import DatasetError

CORPUS = Path(__file__).parents[1] / "hostile" / "data" / "make_hostile_data.py"
CONVNAS = Path(sys.executable).with_name("convnas")
MEMORY_LIMIT = 3 * 2**30  # torch and the CLI fit; 10**9 class names (24 GB) do not


# Runs every case in one memory-limited child: a regression must fail the test, not exhaust
# the machine (the label bomb took 24 GB in-process). Prints one JSON line per case.
_CHILD = """
import importlib.util, json, sys, time
from pathlib import Path
from workers.data import check_dataset, load_dataset
from workers.errors import DatasetError
spec = importlib.util.spec_from_file_location("corpus", sys.argv[1])
corpus = importlib.util.module_from_spec(spec)
spec.loader.exec_module(corpus)
for name, (write, _, _) in corpus.CASES.items():
    ref = write(Path(sys.argv[2]))
    start = time.perf_counter()
    row = {"name": name, "loaded": False}
    try:
        load_dataset(ref, 16, 1, 10)
        row["loaded"] = True
    except DatasetError as exc:
        row["error"] = [exc.field, exc.message]
    except Exception as exc:
        row["error"] = ["<unnamed>", f"{type(exc).__name__}: {exc}"]
    row["problems"] = [
        [p.path, p.message] for p in check_dataset(ref, input_size=16, channels=1, classes=10)
    ]
    row["seconds"] = time.perf_counter() - start
    print(json.dumps(row), flush=True)
"""


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("hostile-data")
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(CORPUS), str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limited,
        check=False,
    )
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert rows, out.stderr[-2000:]
    return {row["name"]: row for row in rows} | {"<stderr>": {"text": out.stderr[-2000:]}}


@pytest.mark.parametrize("name", sorted(hostile.CASES))
def test_hostile_dataset_is_refused_by_name(name: str, refusals: dict[str, Any]) -> None:
    _, field, words = hostile.CASES[name]
    row = refusals.get(name)
    assert row is not None, f"the child died before {name}: {refusals['<stderr>']['text']}"
    assert not row["loaded"], f"{name} loaded"
    assert row["error"][0] == field and words in row["error"][1], row
    assert row["problems"], f"check_dataset found nothing wrong with {name}"
    assert row["problems"][0] == [field, row["problems"][0][1]] and words in row["problems"][0][1]
    assert row["seconds"] < 5.0


def _arch_file(tmp_path: Path, tiny_data: Any) -> Path:
    path = tmp_path / "arch.yaml"
    path.write_text(yaml.safe_dump(tiny_data(size=16)))
    return path


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("label_bomb", "dataset.y: label 1000000000 at index 5 is outside 0..9"),
        ("png_bomb", "400000000 pixels, over the limit of 16777216 pixels per image"),
    ],
)
def test_train_refuses_bombs_fast_in_bounded_memory(
    name: str, words: str, tmp_path: Path, tiny_data: Any
) -> None:
    """Issue 9's repro: one label of 10**9 used 24 GB; a 20000x20000 PNG gave a traceback."""
    ref = hostile.CASES[name][0](tmp_path)
    arch = _arch_file(tmp_path, tiny_data)
    command = [str(CONVNAS), "train", str(arch), "--dataset", ref, "--epochs", "1"]
    start = time.perf_counter()
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=120, preexec_fn=_limited, check=False
    )
    seconds = time.perf_counter() - start
    assert out.returncode == 1, (out.returncode, seconds, out.stdout[-2000:], out.stderr[-2000:])
    assert words in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert seconds < 60  # the import of torch is most of it


def test_check_dataset_does_not_import_torch() -> None:
    code = "import sys, workers.data.check; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _folder(root: Path, classes: int, per_class: int = 2) -> str:
    from PIL import Image

    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (20, 14), (c * 20, i, 0)).save(root / f"c{c}" / f"{i}.png")
    return f"imagefolder:{root}"


def test_check_dataset_accepts_what_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.npz"
    np.savez(path, x=np.zeros((30, 8, 8, 3), np.uint8), y=np.arange(30) % 3)
    good = {
        "digits": 10,
        "shapes:samples=40,classes=4": 4,
        "pathfinder:samples=8": 2,
        f"npz:{path}": 3,
        _folder(tmp_path / "folder", 3): 3,
    }
    for ref, classes in good.items():
        assert check_dataset(ref, input_size=16, channels=1, classes=classes) == [], ref


def test_check_dataset_names_each_problem(tmp_path: Path) -> None:
    path = tmp_path / "rgb.npz"
    np.savez(path, x=np.zeros((30, 8, 8, 3), np.uint8), y=np.arange(30) % 3)
    for label in ("a", "b", "c"):
        (tmp_path / "empty" / label).mkdir(parents=True)
    cases: dict[Any, tuple[int, int, int, str, str]] = {
        # ref: (input_size, channels, classes, path, words)
        "digits": (16, 1, 5, "classes", "has 10 classes but the arch has 5"),
        "pathfinder": (8, 1, 2, "input.size", "at least 16 px"),
        "shapes:classes=11": (16, 1, 11, "dataset.classes", "less than or equal to 10"),
        "shapes": (16, 1, 12, "classes", "at most 10 classes"),
        "mnist": (16, 1, 10, "dataset", "unknown dataset"),
        f"npz:{tmp_path / 'missing.npz'}": (16, 1, 3, "dataset.path", "no such file"),
        f"npz:{path}": (16, 1, 10, "classes", "has 3 classes but the arch has 10"),
        f"npz:{path}#channels": (16, 4, 3, "input.channels", "has 3 channels; cannot make 4"),
        f"imagefolder:{tmp_path / 'empty'}": (16, 1, 3, "dataset.path", "has no images"),
        f"imagefolder:{path}": (16, 1, 3, "dataset.path", "needs a folder"),
    }
    for ref, (size, channels, classes, field, words) in cases.items():
        ref = ref.removesuffix("#channels")
        problems = check_dataset(ref, input_size=size, channels=channels, classes=classes)
        assert problems and problems[0].path == field, (ref, problems)
        assert words in problems[0].message, (ref, problems)


def test_npz_arrays_larger_than_half_the_memory_are_refused() -> None:
    """A compressed npz can hold far more than the machine's memory (zeros compress 1000:1);
    the headers say how much before anything is read."""
    from workers.data.files import ArrayHeader, check_npz_headers, memory_bytes

    n = memory_bytes() // (64 * 64) + 1  # images of 64x64 filling all of the memory
    x = ArrayHeader((n, 64, 64), np.dtype(np.uint8), stored=n * 64 * 64 + 128)
    y = ArrayHeader((n,), np.dtype(np.int64), stored=n * 8 + 128)
    with pytest.raises(DatasetError, match=r"dataset\.x: the arrays take .* GiB, more than half"):
        check_npz_headers({"x": x, "y": y})
    small = ArrayHeader((10, 64, 64), np.dtype(np.uint8), stored=10 * 64 * 64 + 128)
    check_npz_headers({"x": small, "y": ArrayHeader((10,), np.dtype(np.int64), stored=208)})


def test_check_dataset_reports_every_bad_class_folder(tmp_path: Path) -> None:
    ref = _folder(tmp_path / "folder", 3)
    (tmp_path / "folder" / "c0" / "bad.png").write_bytes(b"not a png")
    for image in (tmp_path / "folder" / "c2").iterdir():
        image.unlink()
    problems = check_dataset(ref, input_size=16, channels=3, classes=3)
    messages = [p.message for p in problems]
    assert len(problems) == 2 and "cannot read image" in messages[0], messages
    assert "class folder 'c2' has no images" in messages[1], messages

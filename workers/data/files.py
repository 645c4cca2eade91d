"""User data from files: ``imagefolder:PATH`` (one subfolder per class, read with PIL) and
``npz:PATH`` (arrays ``x`` uint8 [N,H,W] or [N,H,W,C] and ``y`` integer labels, read without
pickles). Every problem names the path and what is wrong with it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from workers.data.options import Option
from workers.data.raw import RawData
from workers.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
FOLDER_OPTIONS = {"max_per_class": Option(int, None, low=1)}
NPZ_OPTIONS: dict[str, Option] = {}


def _existing(path: str, want_dir: bool) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise DatasetError("dataset.path", "no such file or folder", path)
    if want_dir and not p.is_dir():
        raise DatasetError(
            "dataset.path", "imagefolder needs a folder with one subfolder per class", path
        )
    if not want_dir and not p.is_file():
        raise DatasetError("dataset.path", "npz needs a .npz file", path)
    return p


def _read_image(path: Path, size: int, mode: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as src:
            im = src.convert(mode)
        side = min(im.size)  # centre crop to a square, then resize: no distortion
        left, top = (im.width - side) // 2, (im.height - side) // 2
        im = im.crop((left, top, left + side, top + side))
        if side != size:
            im = im.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetError("dataset.path", f"cannot read image {path}: {exc}", str(path)) from None


def load_imagefolder(path: str, options: Mapping[str, Any], size: int, channels: int) -> RawData:
    root = _existing(path, want_dir=True)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) < 2:
        raise DatasetError("dataset.path", "imagefolder needs at least two class subfolders", path)
    mode = "L" if channels == 1 else "RGB"
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, folder in enumerate(folders):
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DatasetError(
                "dataset.path", f"class folder {folder.name!r} has no images", str(folder)
            )
        for f in files[: options["max_per_class"]]:
            images.append(_read_image(f, size, mode))
            labels.append(label)
    return RawData(
        np.stack(images), np.asarray(labels, dtype=np.int64), tuple(f.name for f in folders)
    )


def _npz_arrays(p: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    try:
        with np.load(p, allow_pickle=False) as f:
            missing = [k for k in ("x", "y") if k not in f.files]
            if missing:
                raise DatasetError(
                    "dataset.path", f"npz file lacks array(s) {', '.join(missing)}", str(p)
                )
            names = f["classes"] if "classes" in f.files else None
            return f["x"], f["y"], names
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError) as exc:  # not a zip, or object arrays (pickles)
        raise DatasetError("dataset.path", f"not a readable npz file: {exc}", str(p)) from None


def load_npz(path: str, options: Mapping[str, Any]) -> RawData:
    p = _existing(path, want_dir=False)
    x, y, names = _npz_arrays(p)
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise DatasetError(
            "dataset.x", "must be uint8 [N,H,W] or [N,H,W,C]", f"{x.dtype} {x.shape}"
        )
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise DatasetError("dataset.y", f"must be {len(x)} integer labels", f"{y.dtype} {y.shape}")
    if len(y) and (y.min() < 0):
        raise DatasetError("dataset.y", "labels must be 0 or more", int(y.min()))
    classes = int(y.max()) + 1 if len(y) else 0
    if names is not None:
        if len(names) < classes:
            raise DatasetError(
                "dataset.classes",
                f"names {len(names)} classes but labels reach {classes - 1}",
                len(names),
            )
        class_names = tuple(str(n) for n in names)
    else:
        class_names = tuple(str(i) for i in range(classes))
    return RawData(x, y.astype(np.int64), class_names)

"""User data from files: ``imagefolder:PATH`` (one subfolder per class, read with PIL) and
``npz:PATH`` (arrays ``x`` uint8 [N,H,W] or [N,H,W,C] and ``y`` integer labels, read without
pickles). Every problem names the field, the file and what is wrong with it.

Bounds, checked from headers before any pixel is decoded (a hostile file must not exhaust
memory): at most :data:`MAX_IMAGE_PIXELS` pixels per image (PNG/JPEG header or npz ``x``
shape), labels in ``0 .. classes-1`` (checked with min/max, never one object per label), at
most :data:`MAX_CLASSES` class names.
"""

from __future__ import annotations

import math
import os
import re
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from space.paths import PathRefused, Roots, confine, open_confined
from space.spec import ImageFolderDataset, NpzDataset
from workers.data.raw import RawData
from workers.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# 16.7 megapixels (4096x4096) per image: far above any input a ConvRNN search trains on, far
# below a decompression bomb (a 20000x20000 PNG of a few hundred kB decodes to 400 MP).
MAX_IMAGE_PIXELS = 4096 * 4096
# The spec's bound on ``classes``.
MAX_CLASSES = 100_000

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ArrayHeader:
    """What an npy header inside an npz claims, and how many bytes the archive holds for it."""

    shape: Shape
    dtype: np.dtype
    stored: int  # the member's uncompressed size (header included)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def __str__(self) -> str:
        return f"{self.dtype} {self.shape}"


def memory_bytes() -> int:
    """This machine's physical memory (0 when unknown)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return 0


def existing_path(path: str, want_dir: bool, roots: Roots | None = None) -> Path:
    """``path`` as a file (or folder) that exists; confined (``roots`` given), resolved inside
    them first, so that nothing is learnt about a path outside them (:mod:`space.paths`)."""
    try:
        p = Path(path).expanduser() if roots is None else confine(path, roots)
        exists = p.exists()
    except PathRefused as exc:
        raise refusal(path, exc) from None
    except (OSError, ValueError) as exc:  # e.g. an embedded NUL byte, a name too long
        raise DatasetError("dataset.path", f"not a usable path: {exc}", path) from None
    if not exists:
        raise DatasetError("dataset.path", "no such file or folder", path)
    if want_dir and not p.is_dir():
        raise DatasetError(
            "dataset.path", "imagefolder needs a folder with one subfolder per class", path
        )
    if not want_dir and not p.is_file():
        raise DatasetError("dataset.path", "npz needs a .npz file", path)
    return p


def refusal(path: str | Path, exc: PathRefused) -> DatasetError:
    """The path policy's refusal as a dataset error (its one message: nothing about the file)."""
    return DatasetError("dataset.path", str(exc), str(path))


@contextmanager
def opened(path: Path, roots: Roots | None) -> Iterator[IO[bytes]]:
    """``path`` open for reading, confined to ``roots`` at this moment (a file swapped for a
    symlink since it was checked is refused); an OSError when it cannot be read."""
    try:
        file = open_confined(path, roots)
    except PathRefused as exc:
        raise refusal(path, exc) from None
    with file:
        yield file


def check_pixels(width: int, height: int, where: str, what: str, value: object) -> None:
    """Images of ``width`` x ``height`` (from a header) are neither empty nor too large."""
    if width < 1 or height < 1:
        raise DatasetError(where, f"{what} has no pixels ({width}x{height})", value)
    if width * height > MAX_IMAGE_PIXELS:
        raise DatasetError(where, f"{what} is {width}x{height} = {_over(width * height)}", value)


def _over(pixels: int | str) -> str:
    return (
        f"{pixels} pixels, over the limit of {MAX_IMAGE_PIXELS} pixels per image "
        "(workers.data.files.MAX_IMAGE_PIXELS)"
    )


def check_labels(y: np.ndarray, classes: int, why: str) -> None:
    """``y`` holds integer labels in ``0 .. classes-1`` (``why`` says where the bound is from).

    min/max first: the common case allocates nothing; only a bad array is searched for the
    first offending label to name it."""
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DatasetError("dataset.y", "must be a 1-D array of integer labels", _desc(y))
    if len(y) == 0:
        raise DatasetError("dataset.y", "holds no labels", _desc(y))
    if int(y.min()) >= 0 and int(y.max()) < classes:
        return
    index = int(np.argmax((y < 0) | (y >= classes)))
    raise DatasetError(
        "dataset.y",
        f"label {int(y[index])} at index {index} is outside 0..{classes - 1} ({why})",
        int(y[index]),
    )


def _desc(a: np.ndarray) -> str:
    return f"{a.dtype} {a.shape}"


# ------------------------------------------------------------------------------------------------
# imagefolder
# ------------------------------------------------------------------------------------------------


def _listing(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise DatasetError("dataset.path", f"cannot list {folder}: {exc}", str(folder)) from None


def class_folders(root: Path, roots: Roots | None = None) -> list[Path]:
    """The class subfolders of ``root``; confined, every entry must resolve inside ``roots``
    (a subfolder linked elsewhere is refused before anything is learnt about it)."""
    entries = [p for p in _listing(root) if not p.name.startswith(".")]
    if roots is not None:
        for entry in entries:
            try:
                confine(entry, roots)
            except PathRefused as exc:
                raise refusal(entry, exc) from None
    folders = sorted(p for p in entries if p.is_dir())
    if len(folders) < 2:
        raise DatasetError(
            "dataset.path", "imagefolder needs at least two class subfolders", str(root)
        )
    if len(folders) > MAX_CLASSES:
        raise DatasetError(
            "dataset.path", f"more than {MAX_CLASSES} class subfolders", len(folders)
        )
    return folders


def image_files(folder: Path, limit: int | None) -> list[Path]:
    files = sorted(f for f in _listing(folder) if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(
            "dataset.path", f"class folder {folder.name!r} has no images", str(folder)
        )
    return files[:limit]


def _unreadable(path: Path, exc: Exception) -> DatasetError:
    return DatasetError("dataset.path", f"cannot read image {path}: {exc}", str(path))


@contextmanager
def _header_checked(path: Path, roots: Roots | None) -> Iterator[Image.Image]:
    """``path`` opened (confined to ``roots``, when given, as it is opened), its size (from
    the header; nothing decoded yet) within the limit."""
    with opened(path, roots) as file, _image(file, path) as image:
        check_pixels(image.width, image.height, "dataset.path", f"image {path}", str(path))
        yield image


@contextmanager
def _image(file: IO[bytes], path: Path) -> Iterator[Image.Image]:
    try:
        with warnings.catch_warnings():
            # PIL warns above its own limit, which is higher than ours: the error below says it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(file)
    except Image.DecompressionBombError as exc:  # PIL's hard limit, far above ours
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = found.group(1) if found else "too many"
        raise DatasetError("dataset.path", f"image {path} has {_over(size)}", str(path)) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    with image:
        yield image


def check_image(path: Path, decode: bool = False, roots: Roots | None = None) -> None:
    """A DatasetError when ``path`` is not an image within the pixel limit (``decode``: or
    when its pixels cannot be read)."""
    try:
        with _header_checked(path, roots) as image:
            if decode:
                image.load()
    except DatasetError:
        raise
    except (OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None


def read_image(path: Path, size: int, mode: str, roots: Roots | None = None) -> np.ndarray:
    """One image as uint8, centre-cropped to a square and resized to ``size`` (no distortion)."""
    try:
        with _header_checked(path, roots) as src:
            im = src.convert(mode)
        side = min(im.size)
        left, top = (im.width - side) // 2, (im.height - side) // 2
        im = im.crop((left, top, left + side, top + side))
        if side != size:
            im = im.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return np.asarray(im, dtype=np.uint8)
    except DatasetError:
        raise
    except (OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None


def load_imagefolder(
    ref: ImageFolderDataset, size: int, channels: int, roots: Roots | None = None
) -> RawData:
    """Every image of the folder; confined (``roots``), each one as it is opened."""
    folders = class_folders(existing_path(ref.path, want_dir=True, roots=roots), roots)
    mode = "L" if channels == 1 else "RGB"
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, folder in enumerate(folders):
        for f in image_files(folder, ref.max_per_class):
            images.append(read_image(f, size, mode, roots))
            labels.append(label)
    return RawData(
        np.stack(images), np.asarray(labels, dtype=np.int64), tuple(f.name for f in folders)
    )


# ------------------------------------------------------------------------------------------------
# npz
# ------------------------------------------------------------------------------------------------


def _not_npz(path: Path, exc: Exception) -> DatasetError:
    return DatasetError("dataset.path", f"not a readable npz file: {exc}", str(path))


def _member_header(archive: zipfile.ZipFile, name: str) -> ArrayHeader:
    with archive.open(f"{name}.npy") as fh:
        version = np.lib.format.read_magic(fh)
        read = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }.get(version)
        if read is None:
            raise ValueError(f"npy format version {version} is not supported")
        shape, _, dtype = read(fh)
    if dtype.hasobject:
        raise ValueError(f"array {name} holds Python objects, which are never unpickled")
    stored = archive.getinfo(f"{name}.npy").file_size
    return ArrayHeader(tuple(int(n) for n in shape), dtype, stored)


Headers = dict[str, ArrayHeader]


@contextmanager
def open_npz(ref: NpzDataset, roots: Roots | None = None) -> Iterator[tuple[Path, IO[bytes]]]:
    """The npz file of ``ref`` (its path and the file, opened once: every read below uses that
    one file, confined to ``roots`` when they are given)."""
    path = existing_path(ref.path, want_dir=False, roots=roots)
    try:
        with opened(path, roots) as file:
            yield path, file
    except OSError as exc:
        raise _not_npz(path, exc) from None


def npz_headers(file: IO[bytes], path: Path) -> Headers:
    """Shape and dtype of ``x``, ``y`` (and ``classes`` when present) from the headers alone."""
    try:
        file.seek(0)
        with zipfile.ZipFile(file) as archive:
            members = {n.removesuffix(".npy") for n in archive.namelist()}
            missing = [k for k in ("x", "y") if k not in members]
            if missing:
                raise DatasetError(
                    "dataset.path", f"npz file lacks array(s) {', '.join(missing)}", str(path)
                )
            names = [k for k in ("x", "y", "classes") if k in members]
            return {k: _member_header(archive, k) for k in names}
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _not_npz(path, exc) from None


def check_npz_headers(headers: Headers) -> None:
    """x is uint8 [N,H,W(,C)] with images within the pixel limit, y [N] integers, classes [K]
    short strings or numbers; every array as large as it claims and all of them together within
    half this machine's memory."""
    x, y = headers["x"], headers["y"]
    if x.dtype != np.uint8 or len(x.shape) not in (3, 4):
        raise DatasetError("dataset.x", "must be uint8 [N,H,W] or [N,H,W,C]", str(x))
    if len(x.shape) == 4 and x.shape[3] not in (1, 3, 4):
        raise DatasetError("dataset.x", "must have 1, 3 or 4 channels", str(x))
    if x.shape[0] < 1:
        raise DatasetError("dataset.x", "holds no images", str(x))
    check_pixels(x.shape[2], x.shape[1], "dataset.x", "each image", str(x))
    if len(y.shape) != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DatasetError("dataset.y", "must be a 1-D array of integer labels", str(y))
    if y.shape[0] != x.shape[0]:
        raise DatasetError(
            "dataset.y", f"must hold {x.shape[0]} labels, one per image of x", str(y)
        )
    names = headers.get("classes")
    if names is not None and (
        len(names.shape) != 1
        or not 1 <= names.shape[0] <= MAX_CLASSES
        or names.dtype.itemsize > 1024
    ):
        raise DatasetError(
            "dataset.classes", f"must be a 1-D array of 1 to {MAX_CLASSES} class names", str(names)
        )
    _check_sizes(headers)


def _check_sizes(headers: Headers) -> None:
    for name, array in headers.items():
        if array.stored < array.nbytes:  # a header claiming more than the file holds
            raise DatasetError(
                f"dataset.{name}",
                f"claims {array.nbytes} bytes but holds {array.stored}",
                str(array),
            )
    total, memory = sum(a.nbytes for a in headers.values()), memory_bytes()
    if memory and total > memory // 2:
        raise DatasetError(
            "dataset.x",
            f"the arrays take {total / 2**30:.1f} GiB, more than half this machine's memory "
            f"({memory / 2**30:.1f} GiB)",
            str(headers["x"]),
        )


def read_npz_labels(file: IO[bytes], path: Path, classes: int, headers: Headers) -> int:
    """The class count of the checked file, its labels checked (``x`` is not read)."""
    with _npz(file, path) as f:
        names = f["classes"] if "classes" in headers else None
        return _checked_classes(f["y"], names, classes)


def _checked_classes(y: np.ndarray, names: np.ndarray | None, classes: int) -> int:
    if names is not None:
        check_labels(y, len(names), f"the file names {len(names)} classes")
        return len(names)
    check_labels(y, classes, f"the arch has {classes} classes")
    return int(y.max()) + 1


@contextmanager
def _npz(file: IO[bytes], path: Path) -> Iterator[np.lib.npyio.NpzFile]:
    try:
        file.seek(0)
        with np.load(file, allow_pickle=False) as f:
            yield f
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _not_npz(path, exc) from None


def load_npz(ref: NpzDataset, classes: int, roots: Roots | None = None) -> RawData:
    """The file's images and labels; labels must lie in ``0 .. classes-1`` (the arch's).
    Confined (``roots``): the file is resolved inside them as it is opened, once."""
    with open_npz(ref, roots) as (path, file):
        headers = npz_headers(file, path)
        check_npz_headers(headers)
        have = read_npz_labels(file, path, classes, headers)
        with _npz(file, path) as f:
            names = f["classes"] if "classes" in headers else None
            x, y = f["x"], f["y"]
    class_names = (
        tuple(str(n) for n in names) if names is not None else tuple(map(str, range(have)))
    )
    return RawData(x, y.astype(np.int64), class_names)

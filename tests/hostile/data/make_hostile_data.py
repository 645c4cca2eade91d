"""Hostile datasets (issue 9): each function writes one into a folder and returns its reference.

``python tests/hostile/data/make_hostile_data.py OUT`` writes them all; the tests
(``tests/workers/test_data_hostile.py``) load this file and check that loading, checking and
``convnas train`` refuse every one with the named error in ``CASES``, quickly and in bounded
memory. Files are generated rather than stored: each is a few lines here, and several only
*claim* to be huge (a PNG or npy header), which is the whole attack.
"""

from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _npz(folder: Path, name: str, **arrays: np.ndarray) -> str:
    path = folder / f"{name}.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


def _x(n: int = 200, side: int = 16) -> np.ndarray:
    return np.zeros((n, side, side), np.uint8)


def label_bomb(folder: Path) -> str:
    """One label of 10**9 among 200: built 10**9 class names (24 GB, OOM-killed)."""
    y = np.arange(200) % 10
    y[5] = 10**9
    return _npz(folder, "label_bomb", x=_x(), y=y)


def negative_label(folder: Path) -> str:
    y = np.arange(200) % 10
    y[7] = -3
    return _npz(folder, "negative_label", x=_x(), y=y)


def empty_images(folder: Path) -> str:
    """x of shape (N, 0, 0): a traceback in the resize."""
    return _npz(folder, "empty_images", x=np.zeros((200, 0, 0), np.uint8), y=np.arange(200) % 10)


def length_mismatch(folder: Path) -> str:
    return _npz(folder, "length_mismatch", x=_x(200), y=np.arange(199) % 10)


def float_images(folder: Path) -> str:
    return _npz(folder, "float_images", x=_x().astype(np.float32), y=np.arange(200) % 10)


def flat_images(folder: Path) -> str:
    return _npz(folder, "flat_images", x=np.zeros((200, 256), np.uint8), y=np.arange(200) % 10)


def two_channel_images(folder: Path) -> str:
    x = np.zeros((200, 16, 16, 2), np.uint8)
    return _npz(folder, "two_channel_images", x=x, y=np.arange(200) % 10)


def scalar_labels(folder: Path) -> str:
    return _npz(folder, "scalar_labels", x=_x(), y=np.array(3))


def float_labels(folder: Path) -> str:
    return _npz(folder, "float_labels", x=_x(), y=(np.arange(200) % 10).astype(np.float64))


def scalar_class_names(folder: Path) -> str:
    """``classes`` a 0-d array: ``len()`` of it was a TypeError traceback."""
    return _npz(folder, "scalar_classes", x=_x(), y=np.arange(200) % 10, classes=np.array("a"))


def object_labels(folder: Path) -> str:
    """An object array: loading it would unpickle."""
    y = np.array([object()] * 200, dtype=object)
    return _npz(folder, "object_labels", x=_x(), y=y)


def _npy_claiming(shape: tuple[int, ...]) -> bytes:
    """An .npy whose header claims ``shape`` (uint8) but that holds a few bytes of data."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out, {"descr": "|u1", "fortran_order": False, "shape": shape}
    )
    return out.getvalue() + b"\0" * 64


def _npz_claiming(folder: Path, name: str, shape: tuple[int, ...]) -> str:
    """An npz whose x.npy header claims ``shape`` beside honest labels."""
    path = folder / f"{name}.npz"
    y = io.BytesIO()
    np.save(y, np.arange(shape[0]) % 10)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", _npy_claiming(shape))
        archive.writestr("y.npy", y.getvalue())
    return f"npz:{path}"


def huge_image_header(folder: Path) -> str:
    """x.npy claims 10 images of 100000x100000 (100 GB): read before, refused from the header."""
    return _npz_claiming(folder, "huge_image_header", (10, 100_000, 100_000))


def truncated_images(folder: Path) -> str:
    """x.npy claims 1000 images of 64x64 (4 MB) and holds 64 bytes: read past the end before."""
    return _npz_claiming(folder, "truncated_images", (1000, 64, 64))


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header says ``width`` x ``height`` (8-bit gray) with one tiny data chunk:
    what a decompression bomb looks like to a reader that checks headers first."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def _imagefolder(folder: Path, name: str, odd: bytes | None, odd_name: str = "odd.png") -> str:
    root = folder / name
    for label in range(10):
        (root / f"c{label}").mkdir(parents=True, exist_ok=True)
        for i in range(2):
            (root / f"c{label}" / f"{i}.png").write_bytes(_small_png())
    if odd is not None:
        (root / "c1" / odd_name).write_bytes(odd)
    return f"imagefolder:{root}"


def _small_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (12, 12), 128).save(out, format="PNG")
    return out.getvalue()


def png_bomb(folder: Path) -> str:
    """A 20000x20000 PNG (400 MP): PIL's DecompressionBombError traceback before."""
    return _imagefolder(folder, "png_bomb", _png_claiming(20_000, 20_000))


def large_png(folder: Path) -> str:
    """5000x5000 (25 MP): under PIL's limit, over ours; decoded in full before."""
    return _imagefolder(folder, "large_png", _png_claiming(5000, 5000))


def not_an_image(folder: Path) -> str:
    return _imagefolder(folder, "not_an_image", b"garbage, not a PNG")


def one_class(folder: Path) -> str:
    root = folder / "one_class"
    (root / "a").mkdir(parents=True, exist_ok=True)
    (root / "a" / "0.png").write_bytes(_small_png())
    return f"imagefolder:{root}"


# name -> (writer, the field path of the error, words of its message). Every reference is
# meant for an arch of 16 px, 1 channel, 10 classes.
CASES: dict[str, tuple[Callable[[Path], str], str, str]] = {
    "label_bomb": (label_bomb, "dataset.y", "label 1000000000 at index 5 is outside 0..9"),
    "negative_label": (negative_label, "dataset.y", "label -3 at index 7 is outside 0..9"),
    "empty_images": (empty_images, "dataset.x", "has no pixels (0x0)"),
    "length_mismatch": (length_mismatch, "dataset.y", "must hold 200 labels"),
    "float_images": (float_images, "dataset.x", "must be uint8"),
    "flat_images": (flat_images, "dataset.x", "must be uint8 [N,H,W]"),
    "two_channel_images": (two_channel_images, "dataset.x", "1, 3 or 4 channels"),
    "scalar_labels": (scalar_labels, "dataset.y", "1-D array of integer labels"),
    "float_labels": (float_labels, "dataset.y", "1-D array of integer labels"),
    "scalar_class_names": (scalar_class_names, "dataset.classes", "1-D array of 1 to"),
    "object_labels": (object_labels, "dataset.path", "never unpickled"),
    "huge_image_header": (huge_image_header, "dataset.x", "over the limit of 16777216 pixels"),
    "truncated_images": (truncated_images, "dataset.x", "claims 4096000 bytes but holds"),
    "png_bomb": (png_bomb, "dataset.path", "400000000 pixels, over the limit"),
    "large_png": (large_png, "dataset.path", "5000x5000 = 25000000 pixels, over the limit"),
    "not_an_image": (not_an_image, "dataset.path", "cannot read image"),
    "one_class": (one_class, "dataset.path", "at least two class subfolders"),
}


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-data")
    out.mkdir(parents=True, exist_ok=True)
    for name, (write, _, _) in CASES.items():
        print(f"{name}: {write(out)}")

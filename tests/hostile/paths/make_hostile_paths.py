"""Hostile paths (issue 18): what a client could name, or plant, to read the server's disk.

Each function writes one case into a folder and returns what the test needs. The tests
(``tests/api/test_api_paths.py``, ``tests/workers/test_data_paths.py``) load this file; see the
README beside it for what each case did before.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

SECRET_REGIONS = ["SECRET_A", "SECRET_B", "SECRET_C", "SECRET_D"]
# A regions array of this many 16-character names is 64 MB once read (the old check also made a
# Python string of each); zeros compress it to about 60 kB.
BOMB_NEURONS = 1_000_000


def shadow(folder: Path) -> Path:
    """A secret file that is not an npz (what /etc/shadow is to the server)."""
    path = folder / "shadow"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("root:$6$secret-hash:19000:0:99999:7:::\n")
    return path


def outside_targets(folder: Path) -> dict[str, Path]:
    """Paths outside the roots that the old checks told apart: a file that exists, one that is
    a valid npz, one that is missing, a folder, a FIFO, an unreadable file."""
    folder.mkdir(parents=True, exist_ok=True)
    npz = folder / "real.npz"
    np.savez(npz, x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4))
    fifo = folder / "pipe.npz"
    os.mkfifo(fifo)
    locked = folder / "locked.npz"
    locked.write_bytes(b"PK")
    locked.chmod(0)
    return {
        "shadow": shadow(folder),
        "npz": npz,
        "missing": folder / "missing.npz",
        "folder": folder,
        "fifo": fifo,
        "unreadable": locked,
    }


def planted_links(root: Path, outside: dict[str, Path]) -> dict[str, Path]:
    """Symlinks inside a root that lead out of it (to a file, a missing file, a folder)."""
    links = {}
    for name in ("shadow", "missing", "folder"):
        link = root / f"link-to-{name}"
        os.symlink(outside[name], link)
        links[f"link-{name}"] = link
    return links


def neural_file(
    path: Path, regions: list[str] | None = None, images: int = 20, bins: int = 3
) -> Path:
    """A small valid neural data file (regions: :data:`SECRET_REGIONS` by default)."""
    names = SECRET_REGIONS if regions is None else regions
    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        stimuli=rng.integers(0, 255, (images, 8, 8), dtype=np.uint8),
        responses=rng.normal(size=(3, images, len(names), bins)).astype(np.float32),
        regions=np.array(names),
    )
    return path


def regions_bomb(path: Path, neurons: int = BOMB_NEURONS) -> Path:
    """A neural file of a few kB whose ``regions`` array is ``neurons`` names of 16 characters
    (zeros, compressed): one validate request of such a file took the server from 156 MB to
    1.3 GB (the array read whole, then a Python string per name). ``responses`` is only a
    header claiming that many neurons: the service's check reads headers, not arrays."""
    dtype = np.dtype("<U16")
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _member(archive, "stimuli", np.zeros((20, 8, 8), np.uint8).tobytes(), (20, 8, 8), "|u1")
        _member(archive, "responses", b"", (3, 20, neurons, 3), "<f4")
        with archive.open("regions.npy", "w", force_zip64=True) as f:
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": dtype.str, "fortran_order": False, "shape": (neurons,)}
            )
            f.write(header.getvalue())
            chunk = bytes(dtype.itemsize * 65536)
            for start in range(0, neurons, 65536):
                f.write(chunk[: dtype.itemsize * min(65536, neurons - start)])
    return path


def _member(
    archive: zipfile.ZipFile, name: str, data: bytes, shape: tuple[int, ...], descr: str
) -> None:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    archive.writestr(f"{name}.npy", header.getvalue() + data)


def imagefolder(root: Path, classes: int = 2, per_class: int = 3) -> Path:
    """A small valid imagefolder: ``classes`` subfolders of ``per_class`` 8x8 PNGs."""
    from PIL import Image

    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(np.full((8, 8), 40 * c + i, np.uint8)).save(folder / f"{i}.png")
    return root


def swap_for_symlink(inside: Path, outside: Path) -> None:
    """What a user who can write in a data root does after the submit check passed: the file
    the search names becomes a symlink to a file outside the roots."""
    if inside.is_dir() and not inside.is_symlink():
        for child in sorted(inside.rglob("*"), reverse=True):
            child.rmdir() if child.is_dir() else child.unlink()
        inside.rmdir()
    else:
        inside.unlink()
    os.symlink(outside, inside)

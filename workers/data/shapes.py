"""``shapes``: one filled or outlined shape per image at a random position, scale and contrast.

An easy task for smoke tests: up to ten shape classes on a noisy background, generated with numpy
from a seed and cached on disk.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from space.spec import ShapesDataset
from workers.data.cache import cached
from workers.data.raw import RawData
from workers.errors import DatasetError

GENERATOR_VERSION = 1


def _disc(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.asarray(u**2 + v**2 <= 1.0)


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.asarray(np.maximum(abs(u), abs(v)) <= 0.8)


def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.asarray((v <= 0.8) & (abs(u) <= (v + 0.9) * 0.55))


def _plus(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.asarray(((abs(u) <= 0.3) & (abs(v) <= 1.0)) | ((abs(v) <= 0.3) & (abs(u) <= 1.0)))


def _ring(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r2 = u**2 + v**2
    return np.asarray((r2 <= 1.0) & (r2 >= 0.4))


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return _plus((u - v) / np.sqrt(2), (u + v) / np.sqrt(2))


def _diamond(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.asarray(abs(u) + abs(v) <= 1.0)


def _frame(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    m = np.maximum(abs(u), abs(v))
    return np.asarray((m <= 0.9) & (m >= 0.55))


def _bar(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.asarray((abs(v) <= 0.3) & (abs(u) <= 1.0))


def _half_disc(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.asarray((u**2 + v**2 <= 1.0) & (v >= 0.0))


SHAPES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "disc": _disc,
    "square": _square,
    "triangle": _triangle,
    "plus": _plus,
    "ring": _ring,
    "cross": _cross,
    "diamond": _diamond,
    "frame": _frame,
    "bar": _bar,
    "half_disc": _half_disc,
}


def _render(rng: np.random.Generator, labels: np.ndarray, size: int) -> np.ndarray:
    n = len(labels)
    radius = rng.uniform(0.18, 0.38, n) * size
    cx = rng.uniform(radius, size - radius)
    cy = rng.uniform(radius, size - radius)
    fg = rng.uniform(150, 255, n)
    grid = np.arange(size, dtype=np.float32) + 0.5
    u = (grid[None, None, :] - cx[:, None, None]) / radius[:, None, None]
    v = (grid[None, :, None] - cy[:, None, None]) / radius[:, None, None]
    img = rng.normal(20.0, 8.0, (n, size, size)).astype(np.float32)
    for c, fn in enumerate(SHAPES.values()):
        rows = labels == c
        if rows.any():
            mask = fn(u[rows], v[rows])
            img[rows] = np.where(mask, fg[rows, None, None], img[rows])
    return np.clip(img, 0, 255).astype(np.uint8)


def generate(n: int, size: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % classes).astype(np.int64)
    chunks = [_render(rng, labels[i : i + 512], size) for i in range(0, n, 512)]
    return np.concatenate(chunks), labels


def class_count(ref: ShapesDataset, classes: int) -> int:
    """The reference's own class count, else the arch's; a DatasetError beyond the shapes."""
    k = ref.classes or classes
    if k > len(SHAPES):
        raise DatasetError("classes", f"shapes has at most {len(SHAPES)} classes", k)
    return k


def load(ref: ShapesDataset, size: int, classes: int, seed: int) -> RawData:
    n, size, k = ref.samples, ref.size or size, class_count(ref, classes)
    params = {"v": GENERATOR_VERSION, "n": n, "size": size, "classes": k, "seed": seed}
    x, y = cached("shapes", params, lambda: generate(n, size, k, seed))
    return RawData(x, y, tuple(list(SHAPES)[:k]))

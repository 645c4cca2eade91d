"""``shapes``: one filled or outlined shape per image at a random position, scale and contrast.

An easy task for smoke tests: up to ten shape classes on a noisy background, generated with numpy
from a seed and cached on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from workers.data.cache import cached
from workers.data.options import Option
from workers.data.raw import RawData

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
OPTIONS = {
    "samples": Option(int, 2000, low=4, high=1_000_000),
    "size": Option(int, None, low=8, high=1024),
    "classes": Option(int, None, low=2, high=len(SHAPES)),
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


def load(options: Mapping[str, Any], size: int, classes: int, seed: int) -> RawData:
    n = options["samples"]
    size = options["size"] or size
    k = options["classes"] or classes
    if k > len(SHAPES):
        from workers.errors import DatasetError

        raise DatasetError("classes", f"shapes has at most {len(SHAPES)} classes", k)
    params = {"v": GENERATOR_VERSION, "n": n, "size": size, "classes": k, "seed": seed}
    x, y = cached("shapes", params, lambda: generate(n, size, k, seed))
    return RawData(x, y, tuple(list(SHAPES)[:k]))

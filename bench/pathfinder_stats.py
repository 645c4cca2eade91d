"""Pathfinder as drawn: curves per image, and how much the dots' distance alone tells.

    .venv/bin/python bench/pathfinder_stats.py [--images 1000] [--sizes 32 64] [--json]
    .venv/bin/python bench/pathfinder_stats.py --smoke --json    # 100 images at 32 px

Per difficulty and size, on the generator's own images (``workers.data.pathfinder.generate``),
measured on the pixels as a model would see them:

- ``curves``: the mean number of 8-connected blobs (curves) per image, and the share of images
  with as many curves as the difficulty asks (``1 + distractors``; generator version 5 left
  out a distractor that found no room, version 6 draws such an image again);
- ``threshold`` / ``band``: the best accuracy of "connected if the dots are closer than t" (or
  farther) and of "connected if the distance lies in [a, b)", over every t, a and b, once on
  the images as generated for the product (``matched`` at medium and hard) and once unmatched.

Not a test: figures for the README. ``--json`` prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
from scipy import ndimage

from workers.data.pathfinder import DIFFICULTY, MATCHED, dot_distance, generate

EIGHT = np.ones((3, 3), dtype=bool)
MAX_TURN = 0.6  # space.spec.datasets.PathfinderDataset's default


def dot_distances(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distance between each image's two dots, and which images showed exactly two."""
    found = [dot_distance(img) for img in x]
    return np.array([d for d in found if d is not None]), np.array([d is not None for d in found])


def threshold_accuracy(dist: np.ndarray, y: np.ndarray) -> float:
    cuts = np.unique(dist)
    return float(max(max(((dist < t) == y).mean(), ((dist >= t) == y).mean()) for t in cuts))


def band_accuracy(dist: np.ndarray, y: np.ndarray) -> float:
    """Best accuracy of 'connected iff a <= d < b' (or its negation) over cut points a < b."""
    cuts = np.quantile(dist, np.linspace(0, 1, 41))
    best = 0.0
    for i, a in enumerate(cuts):
        for b in cuts[i + 1 :]:
            inside = (dist >= a) & (dist < b)
            best = max(best, float((inside == y).mean()), float((~inside == y).mean()))
    return best


def figures(difficulty: str, size: int, images: int) -> dict[str, Any]:
    length, distractors = DIFFICULTY[difficulty]
    out: dict[str, Any] = {"difficulty": difficulty, "size": size, "asks": 1 + distractors}
    for matched in sorted({MATCHED[difficulty], False}, reverse=True):
        started = time.perf_counter()
        x, y = generate(images, size, length, distractors, MAX_TURN, seed=5, matched=matched)
        seconds = time.perf_counter() - started
        blobs = np.array([ndimage.label(img > 0, structure=EIGHT)[1] for img in x])
        dist, found = dot_distances(x)
        key = "matched" if matched else "unmatched"
        out[key] = {
            "seconds": round(seconds, 2),
            "images_per_s": round(images / seconds),
            "curves_mean": round(float(blobs.mean()), 2),
            "all_curves": round(float((blobs == 1 + distractors).mean()), 3),
            "threshold": round(threshold_accuracy(dist, y[found]), 3),
            "band": round(band_accuracy(dist, y[found]), 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--smoke", action="store_true", help="100 images at 32 px")
    args = parser.parse_args()
    if args.smoke:
        args.images, args.sizes = 100, [32]
    if args.images < 10 or any(s < 16 for s in args.sizes):
        parser.error(f"--images at least 10 (got {args.images}), --sizes at least 16")
    rows = []
    for size in args.sizes:
        for difficulty in DIFFICULTY:
            rows.append(figures(difficulty, size, args.images))
            print(f"{difficulty} at {size} px done", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"images": args.images, "rows": rows}, indent=2))
        return
    for row in rows:
        for key in ("matched", "unmatched"):
            if key in row:
                name = f"{row['difficulty']:>6} {row['size']:>3} px {key:>9}"
                print(f"{name} (asks {row['asks']} curves): {row[key]}")


if __name__ == "__main__":
    main()

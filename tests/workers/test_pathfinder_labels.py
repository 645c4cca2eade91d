"""Pathfinder's labels agree with its pixels: a negative's two dots lie on two 8-connected
blobs, a positive's on one. Checked on the images themselves (blobs and dots found as a model
would see them), 1,000 negatives per difficulty and size."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from workers.data.pathfinder import DIFFICULTY, find_dots
from workers.data.pathfinder import generate as pathfinder

EIGHT = np.ones((3, 3), dtype=bool)


def _dot_blobs(img: np.ndarray) -> list[int] | None:
    """The 8-connected blob under each of the image's two dots, or None when the dots are not
    found as exactly two."""
    blobs, _ = ndimage.label(img > 0, structure=EIGHT)
    dots, n = find_dots(img)
    if n != 2:
        return None
    return [int(np.bincount(blobs[dots == k]).argmax()) for k in (1, 2)]


@pytest.mark.slow
@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("difficulty", list(DIFFICULTY))
def test_no_negative_is_connected_and_every_positive_is(difficulty: str, size: int) -> None:
    length, distractors = DIFFICULTY[difficulty]
    # unmatched: the same drawing code as matched, without its pool (twice the images)
    x, y = pathfinder(2000, size, length, distractors, 0.6, seed=11)
    found = {0: 0, 1: 0}
    for img, label in zip(x, y, strict=True):
        blobs = _dot_blobs(img)
        if blobs is None:
            continue  # a dot the erosion could not isolate (a curve running along it)
        found[int(label)] += 1
        assert (blobs[0] == blobs[1]) == bool(label), (difficulty, size, label)
    assert found[0] >= 950 and found[1] >= 950, found  # nearly every image was checked

"""No shortcut at ``medium`` and ``hard``: the dots' distance does not tell the label.

A positive's dots are the two ends of one smooth curve, a negative's lie anywhere, so unless the
generator matches them the distance alone answers (easy keeps that cue on purpose). The
distance is measured on the images, as a model would see them, not read from the generator.
"""

from __future__ import annotations

import numpy as np
import pytest

from workers.data import load_dataset
from workers.data.pathfinder import DIFFICULTY, MATCHED, dot_distance
from workers.data.pathfinder import generate as pathfinder


def _dot_distances(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distance between each image's two dots, and which images showed exactly two."""
    found = [dot_distance(img) for img in x]
    return np.array([d for d in found if d is not None]), np.array([d is not None for d in found])


def _best_threshold_accuracy(dist: np.ndarray, y: np.ndarray) -> float:
    """The best accuracy of 'positive if the dots are closer (or farther) than t', any t."""
    return max(max(((dist < t) == y).mean(), ((dist >= t) == y).mean()) for t in np.unique(dist))


@pytest.mark.parametrize(
    ("difficulty", "matched", "low", "high"),
    [("medium", True, 0.0, 0.58), ("medium", False, 0.62, 1.0), ("easy", False, 0.75, 1.0)],
)
def test_dot_distance_tells_the_label_only_where_not_matched(
    difficulty: str, matched: bool, low: float, high: float
) -> None:
    length, distractors = DIFFICULTY[difficulty]
    x, y = pathfinder(400, 32, length, distractors, 0.6, seed=7, matched=matched)
    assert y.sum() == 200  # still balanced
    dist, found = _dot_distances(x)
    assert found.mean() >= 0.95
    acc = _best_threshold_accuracy(dist, y[found])
    # the unmatched rows show the measure finds the cue where there is one
    assert low <= acc <= high, acc


@pytest.mark.slow
def test_hard_is_matched_too_and_loads_matched() -> None:
    assert MATCHED == {"easy": False, "medium": True, "hard": True}
    length, distractors = DIFFICULTY["hard"]
    x, y = pathfinder(300, 32, length, distractors, 0.6, seed=8, matched=True)
    dist, found = _dot_distances(x)
    assert found.mean() >= 0.95 and _best_threshold_accuracy(dist, y[found]) <= 0.6
    unmatched = pathfinder(300, 32, length, distractors, 0.6, seed=8)
    dist, found = _dot_distances(unmatched[0])
    assert _best_threshold_accuracy(dist, unmatched[1][found]) >= 0.58
    # the loader generates the matched images for medium (the default difficulty)
    d = load_dataset("pathfinder:samples=64,size=32", 32, 1, 2, seed=3)
    assert len(d.y_train) + len(d.y_val) == 64

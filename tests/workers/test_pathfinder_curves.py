"""Every pathfinder image holds as many curves as its difficulty asks (``1 + distractors``), at
every size the difficulty accepts; a size too small for a difficulty is refused by name.

Generator version 5 left out the curves that found no room: at 32 px ``hard`` images held 2.05
of their 4 curves on average, ``medium`` 2.3 of 3.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from workers.data import check_dataset, load_dataset
from workers.data.pathfinder import DIFFICULTY, MATCHED, MIN_SIZES, _draw, _Geometry, draw
from workers.errors import DatasetError

EIGHT = np.ones((3, 3), dtype=bool)
# each difficulty at its smallest size, at 32 px and (slow: 6 s) at 64 px
CASES = [
    pytest.param(d, size, marks=[pytest.mark.slow] if size == 64 else [])
    for d in DIFFICULTY
    for size in sorted({MIN_SIZES[d], 32, 64})
]


def _blobs(x: np.ndarray) -> np.ndarray:
    return np.array([ndimage.label(img > 0, structure=EIGHT)[1] for img in x])


@pytest.mark.parametrize(("difficulty", "size"), CASES)
def test_every_image_holds_all_of_its_curves(difficulty: str, size: int) -> None:
    length, distractors = DIFFICULTY[difficulty]
    asked = 1 + distractors
    # as the loader draws them: matched at medium and hard
    drawn = draw(300, size, length, distractors, 0.6, seed=21, matched=MATCHED[difficulty])
    assert drawn.x.shape == (300, size, size) and drawn.y.sum() == 150
    # the generator's record: each curve counted as it was placed
    assert (drawn.curves == asked).all(), np.bincount(drawn.curves)
    # the pixels agree: curves never touch, so each is one 8-connected blob of its own
    blobs = _blobs(drawn.x)
    assert (blobs == asked).all(), np.bincount(blobs)


def test_drawing_is_deterministic_per_seed() -> None:
    length, distractors = DIFFICULTY["hard"]
    a = draw(40, 32, length, distractors, 0.6, seed=3, matched=True)
    b = draw(40, 32, length, distractors, 0.6, seed=3, matched=True)
    c = draw(40, 32, length, distractors, 0.6, seed=4, matched=True)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_hards_minimum_is_where_its_curves_start_to_fit() -> None:
    """The table is measured, not guessed: 4 px below hard's minimum most images drawn miss a
    curve (they would be drawn again and again); at the minimum most hold all four."""
    length, distractors = DIFFICULTY["hard"]
    labels = np.arange(256) % 2
    kept = {}
    for size in (MIN_SIZES["hard"] - 4, MIN_SIZES["hard"]):
        rng = np.random.default_rng(size)
        _, _, curves = _draw(rng, _Geometry(size, length, 0.6), labels, distractors)
        kept[size] = float(np.mean(curves == 1 + distractors))
    assert kept[MIN_SIZES["hard"] - 4] < 0.3 and kept[MIN_SIZES["hard"]] > 0.5, kept


def test_a_size_too_small_for_the_difficulty_is_refused_by_name() -> None:
    hard = MIN_SIZES["hard"]
    assert hard > MIN_SIZES["medium"]
    small = hard - 4

    def problems(ref: str, size: int) -> list[tuple[str, object, str]]:
        found = check_dataset(ref, input_size=size, channels=1, classes=2)
        return [(p.path, p.value, p.message) for p in found]

    # drawn at the input's size: input.size is the field to change
    [(path, value, message)] = problems("pathfinder:difficulty=hard", small)
    assert (path, value) == ("input.size", small)
    assert f"at least {hard} px" in message and "4 curves" in message, message
    # drawn at its own size: dataset.size is
    [(path, value, message)] = problems(f"pathfinder:difficulty=hard,size={small}", 64)
    assert (path, value) == ("dataset.size", small) and f"pathfinder:size={hard}" in message
    with pytest.raises(DatasetError, match=rf"dataset\.size: .*at least {hard} px"):
        load_dataset(f"pathfinder:difficulty=hard,size={small},samples=8", 64, 1, 2)
    # the smallest size that works, and easier difficulties there, pass
    assert problems("pathfinder:difficulty=hard", hard) == []
    assert problems("pathfinder:difficulty=medium", small) == []
    # with its own curves the table does not apply: the generator refuses what does not fit
    assert problems("pathfinder:difficulty=hard,distractors=1", small) == []

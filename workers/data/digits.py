"""``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes; no
download), scaled to uint8 and later upsampled to the arch's input size."""

from __future__ import annotations

import numpy as np

from workers.data.raw import RawData

CLASSES = 10


def load() -> RawData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.rint(np.asarray(bunch.images) * (255.0 / 16.0)).astype(np.uint8)
    y = np.asarray(bunch.target, dtype=np.int64)
    note = "scikit-learn's 0..16 digit images scaled by 255/16 and rounded to uint8"
    return RawData(x, y, tuple(str(d) for d in range(CLASSES)), value_note=note)

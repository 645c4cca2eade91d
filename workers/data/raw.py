"""Raw examples as a loader returns them, before split, resize and normalisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RawData:
    """``x`` uint8 [N, H, W] or [N, H, W, C]; ``y`` int64 [N] in ``0 .. len(class_names)-1``."""

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    # How the source's pixel values became ``x``'s uint8 0..255, when not already so (e.g.
    # digits' 0..16): recorded with the preprocessing so new images can be prepared alike.
    value_note: str | None = None

    @property
    def classes(self) -> int:
        return len(self.class_names)

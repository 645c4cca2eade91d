"""Raw examples as a loader returns them, before split, resize and normalisation, and the
channel conversions the preparation can make (torch-free, so datasets can be checked cheaply)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workers.errors import DatasetError


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


def channel_conversion(have: int, channels: int) -> str:
    """The name of the conversion preparation applies (recorded in the preprocessing)."""
    if have == channels:
        return "none"
    if have == 1:
        return f"repeat gray to {channels} channels"
    if have in (3, 4) and channels == 1:
        return "luma 0.299 R + 0.587 G + 0.114 B (alpha dropped), rounded"
    if have == 4 and channels == 3:
        return "drop alpha"
    return f"unsupported ({have} to {channels})"


def check_channels(have: int, channels: int) -> None:
    """A DatasetError when images of ``have`` channels cannot be made ``channels``."""
    if channel_conversion(have, channels).startswith("unsupported"):
        raise DatasetError(
            "input.channels", f"the data has {have} channels; cannot make {channels}", channels
        )


def source_channels(x: np.ndarray) -> int:
    return 1 if x.ndim == 3 else int(x.shape[-1])

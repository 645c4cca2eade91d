"""From raw examples to training tensors: channels, square resize, seeded split, statistics.

Images stay uint8 on the host ([N, C, S, S]); :meth:`Dataset.batch` normalises a batch on its
device. That keeps a 224-pixel dataset at a quarter of its float32 size.

The whole input pipeline is recorded by :meth:`Dataset.preprocessing` (a plain dict, stored with
every trial, checkpoint and export) and replayed on new images by :func:`preprocess`:

1. channels: ``[N,H,W]`` or ``[N,H,W,C]`` uint8 0..255 to the arch's channel count (gray is
   repeated; RGB(A) to gray is ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B``, rounded;
   RGBA to RGB drops alpha);
2. resize: centre crop to a square, then bilinear (antialiased when shrinking,
   ``align_corners=False``) to ``input_size``, rounded back to uint8;
3. normalise: ``x[c] = (pixel[c] / 255 - mean[c]) / std[c]``, mean and std per channel measured
   on the training split (in 0..1 units).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from workers.data.raw import RawData, channel_conversion, check_channels, source_channels
from workers.errors import DatasetError

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
PREPROCESSING_FORMAT = "convnas.preprocessing/1"
RESIZE_METHOD = "center_crop_square, bilinear (antialias when shrinking, align_corners=False)"


@dataclass(frozen=True)
class Dataset:
    """A train/validation split ready for the loop; ``mean``/``std`` per channel in [0, 1] units."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    def batch(self, images: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
        """uint8 images [B, C, S, S] -> normalised float32 on ``device``."""
        x = images.to(device, non_blocking=True).float().div_(255.0)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def preprocessing(self) -> dict[str, Any]:
        """How raw images became this dataset's inputs: everything :func:`preprocess` needs."""
        c, size, _ = self.input_shape
        source = int(self.info.get("source_channels", c))
        record: dict[str, Any] = {
            "format": PREPROCESSING_FORMAT,
            "input_size": size,
            "channels": c,
            "source_channels": source,
            "channel_conversion": channel_conversion(source, c),
            "resize": RESIZE_METHOD,
            "value_range": [0, 255],
            "mean": list(self.mean),
            "std": list(self.std),
            "formula": "x[c] = (pixel[c] / 255 - mean[c]) / std[c]",
            "class_names": list(self.class_names),
            "dataset": self.name,
        }
        if self.info.get("value_note"):
            record["value_note"] = self.info["value_note"]
        return record

    def describe(self) -> dict[str, Any]:
        c, h, _ = self.input_shape
        return {
            "name": self.name,
            "train": len(self.y_train),
            "val": len(self.y_val),
            "classes": self.classes,
            "channels": c,
            "size": h,
            **self.info,
        }


def _to_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """[N,H,W] or [N,H,W,C] uint8 -> [N,channels,H,W] uint8."""
    if x.ndim == 3:
        x = x[..., None]
    have = x.shape[-1]
    if have == channels:
        out = x
    elif have == 1:
        out = np.repeat(x, channels, axis=-1)
    elif have in (3, 4) and channels == 1:  # RGB(A) -> luminance; alpha dropped
        out = np.rint(x[..., :3].astype(np.float32) @ _LUMA)[..., None].astype(np.uint8)
    elif have == 4 and channels == 3:
        out = x[..., :3]
    else:
        check_channels(have, channels)
        raise AssertionError(f"no conversion from {have} to {channels} channels")
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _resize(x: np.ndarray, size: int) -> torch.Tensor:
    """[N,C,H,W] uint8 -> centre-cropped square, bilinear (antialiased) resize, uint8 tensor."""
    t = torch.from_numpy(x)
    h, w = t.shape[2:]
    side = min(h, w)
    t = t[:, :, (h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
    if side == size:
        return t.contiguous()
    out = torch.empty((t.shape[0], t.shape[1], size, size), dtype=torch.uint8)
    for i in range(0, len(t), 256):  # chunks bound the float copy's memory
        chunk = F.interpolate(
            t[i : i + 256].float(),
            size=(size, size),
            mode="bilinear",
            antialias=side > size,
            align_corners=False,
        )
        out[i : i + 256] = chunk.round_().clamp_(0, 255).to(torch.uint8)
    return out


def _split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = round(n * val_fraction)
    if n_val < 1 or n - n_val < 1:
        raise DatasetError(
            "dataset", f"{n} examples cannot be split with val_fraction {val_fraction}", n
        )
    return order[n_val:], np.sort(order[:n_val])


def prepare(
    raw: RawData,
    name: str,
    size: int,
    channels: int,
    val_fraction: float,
    seed: int,
    limit: int | None = None,
) -> Dataset:
    if len(raw.y) < 2:
        raise DatasetError("dataset", "needs at least two examples", len(raw.y))
    images = _resize(_to_channels(raw.x, channels), size)
    labels = torch.from_numpy(np.ascontiguousarray(raw.y, dtype=np.int64))
    train, val = _split(len(labels), val_fraction, seed)
    if limit is not None:
        train = train[:limit]  # the split is already shuffled: a random subset of train
    x_train = images[torch.from_numpy(train)]
    stats = x_train.float().div(255.0)
    mean = stats.mean(dim=(0, 2, 3))
    std = stats.std(dim=(0, 2, 3)).clamp_min(1e-3)  # a constant channel must not divide by 0
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=labels[torch.from_numpy(train)],
        x_val=images[torch.from_numpy(val)],
        y_val=labels[torch.from_numpy(val)],
        class_names=raw.class_names,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        info={
            "native_size": int(raw.x.shape[1]),
            "split_seed": seed,
            "source_channels": source_channels(raw.x),
            **({"value_note": raw.value_note} if raw.value_note else {}),
        },
    )


def preprocess(
    images: np.ndarray | torch.Tensor,
    preprocessing: dict[str, Any],
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Raw uint8 images ``[N,H,W]`` or ``[N,H,W,C]`` (0..255) -> the float32 ``[N,C,S,S]`` batch
    a model trained with ``preprocessing`` (a trial's, checkpoint's or export's record) expects.

    Replays :func:`prepare` exactly: channel conversion, centre crop and resize, normalisation.
    """
    for key in ("input_size", "channels", "mean", "std"):
        if key not in preprocessing:
            raise DatasetError(f"preprocessing.{key}", "missing from the preprocessing record")
    x = images.cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise DatasetError(
            "images", "must be uint8 [N,H,W] or [N,H,W,C] in 0..255", f"{x.dtype} {x.shape}"
        )
    channels, size = int(preprocessing["channels"]), int(preprocessing["input_size"])
    resized = _resize(_to_channels(x, channels), size)
    mean = torch.tensor(preprocessing["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(preprocessing["std"], dtype=torch.float32).view(1, -1, 1, 1)
    out = (resized.float().div_(255.0) - mean) / std
    return out.to(device)

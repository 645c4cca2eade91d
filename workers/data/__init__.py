"""Datasets, all offline and deterministic.

``load_dataset(ref, input_size, channels, classes, seed)`` returns a :class:`Dataset` split by
``seed``, resized to the arch's input and checked against its class count, or raises a
:class:`~workers.errors.DatasetError` naming the field and value before any training starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.data import digits, files, pathfinder, shapes
from workers.data.options import take_options
from workers.data.prepare import Dataset, prepare, preprocess
from workers.data.raw import RawData
from workers.data.ref import DATASET_KINDS, DatasetRef, parse_dataset_ref
from workers.errors import DatasetError

__all__ = [
    "DATASET_KINDS",
    "Dataset",
    "DatasetRef",
    "load_dataset",
    "load_raw",
    "parse_dataset_ref",
    "preprocess",
]

_OPTIONS = {
    "digits": digits.OPTIONS,
    "shapes": shapes.OPTIONS,
    "pathfinder": pathfinder.OPTIONS,
    "imagefolder": files.FOLDER_OPTIONS,
    "npz": files.NPZ_OPTIONS,
}


_BUILTIN_CLASSES = {"digits": 10, "pathfinder": 2}


def _check_classes(ref: DatasetRef, have: int | None, classes: int) -> None:
    if have is not None and have != classes:
        raise DatasetError(
            "classes",
            f"dataset {ref} has {have} classes but the arch has {classes}; "
            "retarget the arch's classes (convnas train --classes) or pick another dataset",
            classes,
        )


def load_raw(
    ref: DatasetRef, input_size: int, channels: int, classes: int, seed: int = 0
) -> RawData:
    """The examples of ``ref`` before split and resize (procedural kinds come from the cache)."""
    options = take_options(ref.options, _OPTIONS[ref.kind], ref.kind)
    if ref.kind == "digits":
        return digits.load(options, input_size, classes, seed)
    if ref.kind == "shapes":
        return shapes.load(options, input_size, classes, seed)
    if ref.kind == "pathfinder":
        return pathfinder.load(options, input_size, classes, seed)
    assert ref.path is not None  # the parser requires a path for the file kinds
    if ref.kind == "imagefolder":
        return files.load_imagefolder(ref.path, options, input_size, channels)
    return files.load_npz(ref.path, options)


def load_dataset(
    ref: str | Mapping[str, Any] | DatasetRef,
    input_size: int,
    channels: int,
    classes: int,
    seed: int = 0,
) -> Dataset:
    """Load, check against the arch (``classes``), split, resize to ``input_size``.

    The data seed (generation of procedural kinds, and the split) is the reference's own
    ``seed`` when it sets one, so every trial of a search sees the same split; else ``seed``.
    """
    parsed = parse_dataset_ref(ref)
    _check_classes(parsed, _BUILTIN_CLASSES.get(parsed.kind), classes)  # before generating
    data_seed = parsed.seed if parsed.seed is not None else seed
    raw = load_raw(parsed, input_size, channels, classes, data_seed)
    _check_classes(parsed, raw.classes, classes)
    return prepare(
        raw, str(parsed), input_size, channels, parsed.val_fraction, data_seed, parsed.limit
    )

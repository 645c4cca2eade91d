"""``load_dataset``: from a reference to a split, resized, checked :class:`Dataset`."""

from __future__ import annotations

from space.paths import Roots
from space.spec import (
    DatasetBase,
    DigitsDataset,
    ImageFolderDataset,
    NpzDataset,
    PathfinderDataset,
    ShapesDataset,
)
from workers.data import digits, files, pathfinder, shapes
from workers.data.check import check_builtin, class_count_error
from workers.data.prepare import Dataset, prepare
from workers.data.raw import RawData
from workers.data.ref import AnyRef, parse_dataset_ref


def load_raw(
    ref: DatasetBase,
    input_size: int,
    channels: int,
    classes: int,
    seed: int = 0,
    roots: Roots | None = None,
) -> RawData:
    """The examples of ``ref`` before split and resize (procedural kinds come from the cache);
    a file's confined to ``roots`` as it is opened, when they are given (a served search)."""
    if isinstance(ref, DigitsDataset):
        return digits.load()
    if isinstance(ref, ShapesDataset):
        return shapes.load(ref, input_size, classes, seed)
    if isinstance(ref, PathfinderDataset):
        return pathfinder.load(ref, input_size, seed)
    if isinstance(ref, ImageFolderDataset):
        return files.load_imagefolder(ref, input_size, channels, roots)
    assert isinstance(ref, NpzDataset), ref  # DATASETS has these five kinds
    return files.load_npz(ref, classes, roots)


def load_dataset(
    ref: AnyRef,
    input_size: int,
    channels: int,
    classes: int,
    seed: int = 0,
    roots: Roots | None = None,
) -> Dataset:
    """Load, check against the arch (``classes``), split, resize to ``input_size``.

    The data seed (generation of procedural kinds, and the split) is the reference's own
    ``seed`` when it sets one, so every trial of a search sees the same split; else ``seed``.
    ``roots``: the data roots of a search submitted to a server (None: unconfined).
    """
    parsed = parse_dataset_ref(ref)
    check_builtin(parsed, input_size, classes)  # before generating
    data_seed = parsed.seed if parsed.seed is not None else seed
    raw = load_raw(parsed, input_size, channels, classes, data_seed, roots)
    error = class_count_error(parsed, raw.classes, classes)
    if error is not None:
        raise error
    return prepare(
        raw, str(parsed), input_size, channels, parsed.val_fraction, data_seed, parsed.limit
    )

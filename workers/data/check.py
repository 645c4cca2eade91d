"""Checking a dataset reference against an arch before anything is spent: torch-free and cheap.

:func:`check_dataset` reads headers and labels, never every image: a file dataset's path,
readability, shapes, dtypes, pixel limit, label range and class count; a built-in kind's class
count and size. The loaders run the same checks (they are the functions below and those of
:mod:`workers.data.files`), so a reference that passes here fails later only on what cannot be
known without decoding every image (a corrupt image further down a folder).
"""

from __future__ import annotations

from collections.abc import Iterator

from space.errors import Problem
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
from workers.data.raw import check_channels
from workers.data.ref import AnyRef, parse_dataset_ref
from workers.errors import DatasetError

# Bad images reported by one check at most (each costs a file open; one is enough to act on).
MAX_IMAGE_PROBLEMS = 10


def class_count_error(ref: DatasetBase, have: int, classes: int) -> DatasetError | None:
    if have == classes:
        return None
    return DatasetError(
        "classes",
        f"dataset {ref} has {have} classes but the arch has {classes}; "
        "retarget the arch's classes (convnas train --classes) or pick another dataset",
        classes,
    )


def check_builtin(ref: DatasetBase, input_size: int, classes: int) -> None:
    """What a built-in kind needs of the arch (its class count, pathfinder's minimum size):
    checked before generating anything."""
    if isinstance(ref, DigitsDataset):
        error = class_count_error(ref, digits.CLASSES, classes)
    elif isinstance(ref, PathfinderDataset):
        error = class_count_error(ref, len(pathfinder.CLASS_NAMES), classes)
        if error is None:
            pathfinder.check_size(ref, input_size)
    elif isinstance(ref, ShapesDataset):
        error = class_count_error(ref, shapes.class_count(ref, classes), classes)
    else:
        error = None
    if error is not None:
        raise error


def _check_npz(ref: NpzDataset, channels: int, classes: int, roots: Roots | None) -> None:
    with files.open_npz(ref, roots) as (path, file):
        headers = files.npz_headers(file, path)
        files.check_npz_headers(headers)
        x_shape = headers["x"].shape
        check_channels(1 if len(x_shape) == 3 else x_shape[3], channels)
        have = files.read_npz_labels(file, path, classes, headers)
    error = class_count_error(ref, have, classes)
    if error is not None:
        raise error


def _imagefolder_errors(
    ref: ImageFolderDataset, classes: int, roots: Roots | None
) -> Iterator[DatasetError]:
    folders = files.class_folders(files.existing_path(ref.path, want_dir=True, roots=roots), roots)
    error = class_count_error(ref, len(folders), classes)
    if error is not None:
        yield error
    for folder in folders:
        try:
            images = files.image_files(folder, ref.max_per_class)
        except DatasetError as exc:
            yield exc
            continue
        for i, image in enumerate(images):
            try:  # headers of all (the pixel limit), pixels of the first of each class
                files.check_image(image, decode=i == 0, roots=roots)
            except DatasetError as exc:
                yield exc


def _errors(
    ref: DatasetBase, input_size: int, channels: int, classes: int, roots: Roots | None
) -> list[DatasetError]:
    try:
        if isinstance(ref, NpzDataset):
            _check_npz(ref, channels, classes, roots)
        elif isinstance(ref, ImageFolderDataset):
            found: list[DatasetError] = []
            for error in _imagefolder_errors(ref, classes, roots):
                found.append(error)
                if len(found) >= MAX_IMAGE_PROBLEMS:
                    break
            return found
        else:
            check_builtin(ref, input_size, classes)
    except DatasetError as exc:
        return [exc]
    return []


def check_dataset(
    ref: AnyRef, *, input_size: int, channels: int, classes: int, roots: Roots | None = None
) -> list[Problem]:
    """Problems that loading ``ref`` for an arch of this input and class count would hit,
    found cheaply (headers and labels, not every image); empty when it should load.
    ``roots`` (a server's data roots; None: unconfined): every file is opened confined to them.

    Each problem's path names the field (``dataset.path``, ``dataset.y``, ``classes``,
    ``input.size``, ``input.channels``) and its value the offending value or file.
    """
    try:
        parsed = parse_dataset_ref(ref)
    except DatasetError as exc:
        return [exc.to_problem()]
    return [e.to_problem() for e in _errors(parsed, input_size, channels, classes, roots)]

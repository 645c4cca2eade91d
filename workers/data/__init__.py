"""Datasets, all offline and deterministic.

``load_dataset(ref, input_size, channels, classes, seed)`` returns a :class:`Dataset` split by
``seed``, resized to the arch's input and checked against its class count, or raises a
:class:`~workers.errors.DatasetError` naming the field and value before any training starts.
``check_dataset`` finds the same problems cheaply, without torch (see :mod:`workers.data.check`).

A reference is one of :mod:`space.spec.datasets`' models; :func:`parse_dataset_ref` turns every
accepted form into one. Only ``Dataset``, ``load_dataset``, ``load_raw`` and ``preprocess`` need
torch: they are imported on first use, so ``workers.data.check`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from space.spec import DATASET_KINDS, DatasetBase
from workers.data.check import check_dataset
from workers.data.ref import parse_dataset_ref

if TYPE_CHECKING:
    from workers.data.load import load_dataset, load_raw
    from workers.data.prepare import Dataset, preprocess

__all__ = [
    "DATASET_KINDS",
    "Dataset",
    "DatasetBase",
    "check_dataset",
    "load_dataset",
    "load_raw",
    "parse_dataset_ref",
    "preprocess",
]

_LAZY = {
    "Dataset": "workers.data.prepare",
    "preprocess": "workers.data.prepare",
    "load_dataset": "workers.data.load",
    "load_raw": "workers.data.load",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Parsing every accepted form of dataset reference into the one typed model of
:mod:`space.spec.datasets`: ``NAME``, ``NAME:PATH`` (file kinds), ``NAME:key=value,...`` (procedural
kinds), a mapping as a spec writes it (``{name: ..., path: ..., <options>}``), or one with the
kind's options nested under ``options`` (older trial configs). Errors are :class:`DatasetError`
naming the field path and the value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from space.spec import (
    DATASET_KINDS,
    DATASETS,
    FILE_KINDS,
    NEURAL_KIND,
    NEURAL_NOT_TRAINING,
    DatasetBase,
    parse_shorthand,
    unknown_option_message,
)
from workers.errors import DatasetError

AnyRef = str | Mapping[str, Any] | DatasetBase


def _from_string(text: str, where: str) -> dict[str, Any]:
    try:
        return parse_shorthand(text)
    except ValueError as exc:
        raise DatasetError(where, str(exc).partition(" (got")[0], text) from None


def _from_mapping(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    rest = {k: v for k, v in data.items() if v is not None}
    name = rest.pop("name", rest.pop("kind", None))
    nested = rest.pop("options", None) or {}
    if not isinstance(nested, Mapping):
        raise DatasetError(f"{where}.options", "must be a mapping", nested)
    out = {**rest, **{k: v for k, v in nested.items() if v is not None}}
    if name is not None:
        out["name"] = name
    return out


def _message(err: Mapping[str, Any], kind: str) -> str:
    loc = tuple(err["loc"])
    if loc == ("path",) and err["type"] in ("missing", "string_too_short"):
        return f"{kind} needs a path: {kind}:PATH"
    if err["type"] == "extra_forbidden":
        if loc == ("path",):
            return f"{kind} is built in and takes no path"
        return unknown_option_message(kind)
    return str(err["msg"]).removeprefix("Value error, ")


def _translate(exc: ValidationError, kind: str, where: str) -> DatasetError:
    """The first problem pydantic found, as a DatasetError at ``where.<field>``."""
    err = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in (where, *err["loc"]))
    value = None if err["type"] == "missing" else err.get("input")
    return DatasetError(field, _message(err, kind), value)


def parse_dataset_ref(ref: AnyRef, where: str = "dataset") -> DatasetBase:
    """Parse any accepted form of dataset reference; errors name ``where`` and the value."""
    if isinstance(ref, DatasetBase):
        return ref
    if isinstance(ref, str):
        data, name_at = _from_string(ref, where), where
    elif isinstance(ref, Mapping):
        data, name_at = _from_mapping(ref, where), f"{where}.name"
    else:
        raise DatasetError(
            where, "expected a string such as 'digits' or a mapping with a name", ref
        )
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise DatasetError(name_at, "a dataset name is required", name)
    kind = data["name"] = name.strip().lower()
    if kind == NEURAL_KIND:
        raise DatasetError(name_at, NEURAL_NOT_TRAINING, name)
    if kind not in DATASETS:
        raise DatasetError(
            name_at, f"unknown dataset; expected one of {', '.join(DATASET_KINDS)}", name
        )
    if kind in FILE_KINDS and isinstance(data.get("path"), (str, os.PathLike)):
        data["path"] = os.fspath(data["path"]).strip()
    try:
        return DATASETS[kind].model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, kind, where) from None

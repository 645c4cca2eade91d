"""Dataset references: ``NAME``, ``NAME:PATH`` (file kinds), ``NAME:key=value,...`` (procedural
kinds), or a mapping ``{name: ..., path: ..., <options>}`` as written in a search spec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workers.errors import DatasetError

FILE_KINDS = ("imagefolder", "npz")
BUILTIN_KINDS = ("digits", "shapes", "pathfinder")
DATASET_KINDS = BUILTIN_KINDS + FILE_KINDS

OptionValue = int | float | str | bool


@dataclass(frozen=True)
class DatasetRef:
    """A parsed dataset reference; ``options`` are kind-specific (checked by the loader)."""

    kind: str
    path: str | None = None
    options: Mapping[str, OptionValue] = field(default_factory=dict)
    val_fraction: float = 0.2
    seed: int | None = None  # generation (procedural kinds) and split seed; None: the caller's
    limit: int | None = None  # use at most this many training images

    def __str__(self) -> str:
        if self.path is not None:
            return f"{self.kind}:{self.path}"
        if self.options:
            opts = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))
            return f"{self.kind}:{opts}"
        return self.kind

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.kind, "options": dict(self.options)}
        if self.path is not None:
            out["path"] = self.path
        out["val_fraction"] = self.val_fraction
        if self.seed is not None:
            out["seed"] = self.seed
        if self.limit is not None:
            out["limit"] = self.limit
        return out


def _scalar(text: str) -> OptionValue:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _parse_options(text: str, where: str) -> dict[str, OptionValue]:
    options: dict[str, OptionValue] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise DatasetError(where, "options must be written key=value,key=value", text)
        options[key.strip()] = _scalar(value.strip())
    return options


def _check_kind(kind: str, where: str) -> None:
    if kind not in DATASET_KINDS:
        raise DatasetError(
            where, f"unknown dataset; expected one of {', '.join(DATASET_KINDS)}", kind
        )


def _from_string(text: str, where: str) -> DatasetRef:
    kind, sep, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    _check_kind(kind, where)
    if kind in FILE_KINDS:
        if not rest.strip():
            raise DatasetError(where, f"{kind} needs a path: {kind}:PATH", text)
        return _finish(kind, rest.strip(), {}, where)
    options = _parse_options(rest, where) if sep else {}
    return _finish(kind, None, options, where)


def _from_mapping(data: Mapping[str, Any], where: str) -> DatasetRef:
    rest = dict(data)
    kind = rest.pop("name", rest.pop("kind", None))
    if not isinstance(kind, str):
        raise DatasetError(f"{where}.name", "a dataset name is required", kind)
    kind = kind.lower()
    _check_kind(kind, f"{where}.name")
    path = rest.pop("path", None)
    if kind in FILE_KINDS and not path:
        raise DatasetError(f"{where}.path", f"{kind} needs a path", path)
    if kind not in FILE_KINDS and path is not None:
        raise DatasetError(f"{where}.path", f"{kind} is built in and takes no path", path)
    nested = rest.pop("options", None) or {}
    if not isinstance(nested, Mapping):
        raise DatasetError(f"{where}.options", "must be a mapping", nested)
    options = {**rest, **nested}
    for key, value in options.items():
        if value is not None and not isinstance(value, (int, float, str, bool)):
            raise DatasetError(f"{where}.{key}", "options must be scalars", value)
    options = {k: v for k, v in options.items() if v is not None}
    return _finish(kind, None if path is None else str(path), options, where)


def _int_or_none(options: dict[str, Any], key: str, where: str, low: int) -> int | None:
    value = options.pop(key, None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise DatasetError(f"{where}.{key}", f"must be an integer >= {low}", value)
    return value


def _finish(kind: str, path: str | None, options: dict[str, Any], where: str) -> DatasetRef:
    """Pull the options every kind shares (val_fraction, seed, limit) out of ``options``."""
    val_fraction = options.pop("val_fraction", 0.2)
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)):
        raise DatasetError(f"{where}.val_fraction", "must be a number", val_fraction)
    if not 0.0 < float(val_fraction) < 1.0:
        raise DatasetError(
            f"{where}.val_fraction", "must lie strictly between 0 and 1", val_fraction
        )
    seed = _int_or_none(options, "seed", where, 0)
    limit = _int_or_none(options, "limit", where, 1)
    return DatasetRef(kind, path, options, float(val_fraction), seed, limit)


def parse_dataset_ref(
    ref: str | Mapping[str, Any] | DatasetRef, where: str = "dataset"
) -> DatasetRef:
    """Parse any accepted form of dataset reference; errors name ``where`` and the value."""
    if isinstance(ref, DatasetRef):
        return ref
    if isinstance(ref, str):
        return _from_string(ref, where)
    if isinstance(ref, Mapping):
        return _from_mapping(ref, where)
    raise DatasetError(where, "expected a string such as 'digits' or a mapping with a name", ref)

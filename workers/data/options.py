"""Checking the kind-specific options of a dataset reference."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workers.errors import DatasetError


@dataclass(frozen=True)
class Option:
    """One accepted option: its type, default, and inclusive bounds (numbers) or choices."""

    kind: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()


def take_options(
    given: Mapping[str, Any], accepted: Mapping[str, Option], dataset: str
) -> dict[str, Any]:
    """Validate ``given`` against ``accepted``; fill defaults; name the bad field and value."""
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        allowed = ", ".join(sorted(accepted)) or "none"
        raise DatasetError(
            f"dataset.{unknown[0]}", f"{dataset} accepts options: {allowed}", given[unknown[0]]
        )
    out: dict[str, Any] = {}
    for name, spec in accepted.items():
        value = given.get(name, spec.default)
        out[name] = value if value is None else _check(name, value, spec)
    return out


def _check(name: str, value: Any, spec: Option) -> Any:
    where = f"dataset.{name}"
    if spec.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise DatasetError(where, "must be an integer", value)
    if spec.kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise DatasetError(where, "must be a number", value)
    if spec.kind is str and not isinstance(value, str):
        raise DatasetError(where, "must be a string", value)
    if spec.choices and value not in spec.choices:
        raise DatasetError(where, f"must be one of {', '.join(spec.choices)}", value)
    if spec.low is not None and value < spec.low:
        raise DatasetError(where, f"must be at least {spec.low:g}", value)
    if spec.high is not None and value > spec.high:
        raise DatasetError(where, f"must be at most {spec.high:g}", value)
    return spec.kind(value)

"""Loading a spec: YAML/JSON text or data into a validated :class:`SearchSpec`, with every
format error and every cross-field problem reported at once (a partial spec is salvaged so that
the cross-field checks run beside the format errors)."""

from __future__ import annotations

import functools
import typing
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from space.document import parse_document, read_document
from space.errors import (
    LineMap,
    Problem,
    SpecError,
    dotted,
)
from space.params import INT64_MAX, INT64_MIN, TAG_PREFIX
from space.spec.base import SpaceNode
from space.spec.checks import Issue, Loc, check_spec
from space.spec.datasets import unknown_option_message
from space.spec.model import SearchSpec
from space.validation import errors_from_validation


def _dataset_option_message(err: ErrorDetails) -> str | None:
    """ "unknown option: digits accepts options: limit, seed, val_fraction" for an unknown
    dataset option (pydantic's "Extra inputs are not permitted" names none)."""
    loc = err["loc"]
    if err["type"] != "extra_forbidden" or loc[:1] != ("dataset",):
        return None
    tags = [p[len(TAG_PREFIX) :] for p in loc if isinstance(p, str) and p.startswith(TAG_PREFIX)]
    return unknown_option_message(tags[0] if tags else "")


def spec_from_data(data: Any, source: str = "<spec>", lines: LineMap | None = None) -> SearchSpec:
    """Validate plain data into a :class:`SearchSpec`; every problem at once as a SpecError."""
    if not isinstance(data, dict):
        raise SpecError([Problem("", "a spec must be a mapping", value=data, source=source)])
    refused = _issue_problems(boundary_issues(data), source, lines)
    if refused:  # before the models: every check after them may assume 64-bit integers
        raise SpecError(refused)
    try:
        spec = SearchSpec.model_validate(data)
    except ValidationError as exc:
        # Report the cross-field problems too, checked on whatever part of the spec is valid.
        problems = errors_from_validation(exc, source, lines, message=_dataset_option_message)
        failed: list[tuple[str | int, ...]] = []
        partial = _salvage(SearchSpec, data, (), failed)
        issues = check_spec(partial, failed=failed)
        raise SpecError(problems + _issue_problems(issues, source, lines)) from None
    problems = _issue_problems(check_spec(spec), source, lines)
    if problems:
        raise SpecError(problems)
    return spec


NUL_MESSAGE = "must not contain a NUL character"
INT64_MESSAGE = (
    f"integer out of range: a spec's integers lie within 64 bits (at most {INT64_MAX:,})"
)


def boundary_issues(data: Any) -> list[Issue]:
    """Every string (key or value) holding a NUL character and every integer outside 64 bits,
    anywhere in ``data``: whatever a field's own bounds, such a value is refused by name before
    validation, so both databases store the same specs (PostgreSQL refuses a NUL that SQLite
    keeps) and no later arithmetic meets a 400-digit integer."""
    issues: list[Issue] = []
    stack: list[tuple[Loc, Any]] = [((), data)]
    while stack:  # depth first, in document order (children pushed in reverse)
        path, value = stack.pop()
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, str) and "\x00" in key:
                    issues.append(((*path, key), "key " + NUL_MESSAGE, key))
            stack.extend(((*path, key), item) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*path, i), value[i]) for i in reversed(range(len(value))))
        elif isinstance(value, str) and "\x00" in value:
            issues.append((path, NUL_MESSAGE, value))
        elif isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            issues.append((path, INT64_MESSAGE, value))
    return issues


def _issue_problems(issues: list[Issue], source: str, lines: LineMap | None) -> list[Problem]:
    return [
        Problem(dotted(path), message, value, lines.line_of(path) if lines else None, source)
        for path, message, value in issues
    ]


# --------------------------------------------------------------------------------------------
# Best-effort partial specs (so that cross-field checks run beside the format errors)
# --------------------------------------------------------------------------------------------

_BAD: Any = object()


@functools.cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    annotation: Any = info.annotation
    return TypeAdapter(Annotated[(annotation, *info.metadata)] if info.metadata else annotation)


def _salvage(
    model: type[BaseModel], data: Any, path: tuple[str | int, ...], failed: list[Any]
) -> Any:
    """A model instance built, without whole-model validation, from the fields of ``data`` that
    validate on their own. A failing field is salvaged recursively when it is a model, a list
    of models or a mapping (cells); otherwise it is left out (its default, or unset) and its
    path recorded in ``failed`` so that checks do not report on a value the user never wrote.
    Returns None when ``data`` is not a mapping."""
    if not isinstance(data, dict):
        failed.append(path)
        return None
    values: dict[str, Any] = {}
    for name in model.model_fields:
        if name in data:
            value = _salvage_field(model, name, data[name], (*path, name), failed)
            if value is not _BAD:
                values[name] = value
    return model.model_construct(**values)


def _salvage_field(
    model: type[BaseModel], name: str, raw: Any, path: tuple[str | int, ...], failed: list[Any]
) -> Any:
    try:
        return _field_adapter(model, name).validate_python(raw)
    except ValidationError:
        pass
    annotation = model.model_fields[name].annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, SpaceNode):
        return _salvage(annotation, raw, path, failed)
    if origin is list and isinstance(raw, list) and args and _is_model(args[0]):
        return [_salvage(args[0], item, (*path, i), failed) for i, item in enumerate(raw)]
    if origin is dict and isinstance(raw, dict):
        # cells: keep every key (so references to it are known), None where the space is bad
        adapter: TypeAdapter[Any] = TypeAdapter(args[1])
        out: dict[str, Any] = {}
        for key, item in raw.items():
            try:
                out[str(key)] = adapter.validate_python(item)
            except ValidationError:
                out[str(key)] = None
                failed.append((*path, key))
        return out
    failed.append(path)
    return _BAD


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def spec_from_text(text: str, source: str = "<spec>") -> SearchSpec:
    data, lines = parse_document(text, source, spec=True)
    return spec_from_data(data, source, lines)


def load_spec(path: str | Path) -> SearchSpec:
    """Read and validate a spec file (YAML or JSON); errors carry the file's line numbers."""
    data, lines = read_document(Path(path), spec=True)
    return spec_from_data(data, str(path), lines)

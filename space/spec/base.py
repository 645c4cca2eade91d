"""What every spec model shares: the strict base class, the bases of the generated node models,
two annotation markers that give a field its run-time validator while mypy sees its static type,
and tagged unions whose discriminator reads a key (``kind``, ``name``) so errors name the member
tried.

The markers are how a spec model can be both a real class to mypy and validated by types built
at run time: ``size: Annotated[int | ChoiceLeaf | IntLeaf, FromArch(A.InputShape, "size")]``
is ``int | ChoiceLeaf | IntLeaf`` to mypy and the leaf union of ``InputShape.size`` (with its
bounds) to pydantic.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import CoreSchema, PydanticUndefined

from space import arch as A
from space.params import (
    TAG_PREFIX,
    BadTie,
    Tied,
    TieLeaf,
    holds_integers,
    leaf_type,
    tagged_union,
    value_kinds,
)


class SpaceNode(BaseModel):
    """Base of every spec model: unknown keys are errors; ties (``{tie: FIELD}``) are checked
    against the node's other fields (:func:`check_ties`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: whether the node's fields may be tied (feedback settings are sampled per edge: not)
    allows_ties: ClassVar[bool] = True

    @model_validator(mode="before")
    @classmethod
    def _ties(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(_is_tie(v) for v in data.values()):
            return check_ties(cls, data)
        return data


# --------------------------------------------------------------------------------------------
# Markers: the static type for mypy, the run-time type for pydantic
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidateAs:
    """``Annotated[Static, ValidateAs(runtime)]``: pydantic validates (and writes the JSON
    Schema of) the field as ``runtime``, a type built at run time (a tagged union, a leaf
    union), while mypy sees ``Static``. ``runtime`` must only produce ``Static`` values."""

    runtime: Any

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return handler.generate_schema(self.runtime)


@dataclass(frozen=True)
class FromArch:
    """A generated spec field: the frozen field ``frozen.field`` written as a leaf (``T |
    {choice: ...} | ...`` with ``T``'s bounds, see :func:`space.params.leaf_type`); ``keep``
    keeps the frozen type as is (a ``kind`` tag, a name); ``optional`` adds None (unset)."""

    frozen: type[BaseModel]
    field: str
    keep: bool = False
    optional: bool = False

    def spec_type(self) -> Any:
        info = self.frozen.model_fields[self.field]
        if self.keep:
            spec: Any = (
                Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            )
        else:
            spec = leaf_type(info.annotation, info.metadata)
        return spec | None if self.optional else spec

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return handler.generate_schema(self.spec_type())


# --------------------------------------------------------------------------------------------
# Bases of the generated cell and readout spaces (space.spec.twins)
# --------------------------------------------------------------------------------------------

Share = Literal["shared", "per_layer"]


class CellSpaceBase(SpaceNode):
    share: Share | None = Field(
        default=None,
        description="Only on a named cell: 'shared' (default; one sample for every layer "
        "naming it) or 'per_layer' (an independent sample for each layer).",
    )


class CellKindBase(CellSpaceBase):
    """A cell space of one kind (each generated subclass declares its ``kind``)."""

    branch: A.Name | None = Field(
        default=None,
        description="Name of this alternative inside one_of (default: its kind); the label "
        "of its parameters.",
    )


class ReadoutKindBase(SpaceNode):
    """A readout space of one kind (each generated subclass declares its ``kind``)."""

    branch: A.Name | None = None


# --------------------------------------------------------------------------------------------
# Tagged unions
# --------------------------------------------------------------------------------------------


def keyed_tag(key: str, extra: Callable[[Any], str | None] | None = None) -> Callable[[Any], Any]:
    """A discriminator reading ``key`` from a mapping or model (tags get the '=' prefix)."""

    def tag(value: Any) -> str | None:
        if extra is not None and (special := extra(value)) is not None:
            return special
        raw = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
        return TAG_PREFIX + raw if isinstance(raw, str) else None

    return tag


def tagged_choice(members: Mapping[str, Any], tag: Callable[[Any], Any], message: str) -> Any:
    """The union of ``members`` (tag -> type), chosen by ``tag``; ``message`` when none fits."""
    tagged = [Annotated[(tp, Tag(TAG_PREFIX + name))] for name, tp in members.items()]
    discriminator = Discriminator(tag, custom_error_type="kind", custom_error_message=message)
    return tagged_union(tagged, discriminator)


def tagged(members: Mapping[str, Any], tag: Callable[[Any], Any], message: str) -> ValidateAs:
    """``Annotated[Static, tagged(...)]``: validate the field as :func:`tagged_choice`."""
    return ValidateAs(tagged_choice(members, tag, message))


# --------------------------------------------------------------------------------------------
# Ties: {tie: FIELD, scale: S, offset: O}
# --------------------------------------------------------------------------------------------


def _is_tie(value: Any) -> bool:
    return (isinstance(value, dict) and "tie" in value) or isinstance(value, TieLeaf)


def _marker(node: type[BaseModel], name: str) -> FromArch | None:
    """The FromArch marker of a searchable value field (None: not one)."""
    info = node.model_fields.get(name)
    if info is None:
        return None
    marker = next((m for m in info.metadata if isinstance(m, FromArch)), None)
    return None if marker is None or marker.keep else marker


def check_ties(node: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every wrong tie replaced by a :class:`~space.params.BadTie` that reports
    why at the tied field's path: ties only between searchable value fields of one node (not
    in feedback settings), to a known other field that is not itself tied (so neither chains
    nor cycles), whose values (times scale plus offset) the tied field can hold."""
    out = dict(data)
    for name, raw in data.items():
        if not _is_tie(raw) or isinstance(raw, (TieLeaf, BadTie)):
            continue
        problem = _tie_problem(node, data, name, raw)
        if problem is not None:
            out[name] = BadTie(raw, problem)
    return out


def _tie_problem(
    node: type[BaseModel], data: dict[str, Any], name: str, raw: dict[str, Any]
) -> str | None:
    target = raw.get("tie")
    if not getattr(node, "allows_ties", True):
        return "ties are not supported in feedback settings (each edge's are sampled apart)"
    marker = _marker(node, name)
    if marker is None:
        return f"{name} cannot be tied: only searchable value fields can"
    if not isinstance(target, str):
        return None  # TieLeaf's own validation names the bad target
    if target == name:
        return f"{name} cannot be tied to itself"
    if target not in node.model_fields:
        close = difflib.get_close_matches(target, list(node.model_fields), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"tie target {target!r} is not a field of {_node_text(node)}{hint}"
    if _marker(node, target) is None:
        return f"tie target {target!r} is not a searchable value field: tie to a value field"
    if _is_tie(data.get(target)):
        inner = data[target]
        end = inner.target if isinstance(inner, TieLeaf) else inner.get("tie")
        if end == name:
            return f"ties form a cycle: {name} -> {target} -> {name}"
        return (
            f"tie target {target!r} is itself tied (to {end!r}): ties cannot chain or cycle; "
            f"tie {name} to {end!r} directly"
        )
    return _value_problem(node, data, name, raw, target)


def _node_text(node: type[BaseModel]) -> str:
    return f"this {node.__name__.removesuffix('Space').removesuffix('Fields')} node"


def _value_problem(
    node: type[BaseModel], data: dict[str, Any], name: str, raw: dict[str, Any], target: str
) -> str | None:
    """Whether every value the target can take, scaled, is a valid value of ``name``."""
    scale, offset = raw.get("scale", 1.0), raw.get("offset", 0.0)
    if not all(_number(v) for v in (scale, offset)):
        return None  # TieLeaf's own validation reports them
    marker = _marker(node, name)
    assert marker is not None
    info = marker.frozen.model_fields[marker.field]
    integer = holds_integers(info.annotation)
    mismatch = _kind_mismatch(node, name, target)
    if mismatch is not None:
        return mismatch
    if integer and not (float(scale).is_integer() and float(offset).is_integer()):
        return f"{name} holds integers: its tie needs an integer scale and offset"
    values = _possible_values(node, data, target)
    tie = Tied(target, float(scale), float(offset))
    adapter = _adapter(marker.frozen, marker.field)
    for value in values:
        if (scale != 1 or offset != 0) and not _number(value):
            return f"scale and offset apply to numbers only; {target} can be {value!r}"
        tied = tie.apply(value, integer)
        try:
            adapter.validate_python(tied)
        except ValidationError as exc:
            why = exc.errors(include_url=False)[0]["msg"]
            return (
                f"tied to {target}{_shown(scale, offset)}: {target} = {value!r} gives "
                f"{tied!r}, not a valid {name} ({why})"
            )
    return None


def _kinds(node: type[BaseModel], name: str) -> set[type]:
    marker = _marker(node, name)
    assert marker is not None
    return value_kinds(marker.frozen.model_fields[marker.field].annotation)


def _kind_mismatch(node: type[BaseModel], name: str, target: str) -> str | None:
    """Numbers tie to numbers (an int field only to int fields), anything else to its kind."""
    mine, theirs = _kinds(node, name), _kinds(node, target)
    accepted: dict[type, set[type]] = {float: {int, float}, int: {int}}
    ok: set[type] = set()
    for kind in mine:
        ok |= accepted.get(kind, {kind})
    if theirs <= ok:
        return None
    names = "/".join(sorted(k.__name__ for k in theirs))
    have = "/".join(sorted(k.__name__ for k in mine))
    return f"type mismatch: {name} holds {have} values, its tie target {target} holds {names}"


def _shown(scale: Any, offset: Any) -> str:
    return Tied("", float(scale), float(offset)).describe().removeprefix("tied to ")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _possible_values(node: type[BaseModel], data: dict[str, Any], target: str) -> list[Any]:
    """Representative values of the target as written (the ends of a range: a tie is affine,
    so its extremes are the ends'), or its default; [] when it is not readable (its own
    validation reports it)."""
    if target not in data:
        default = node.model_fields[target].default
        return [] if default is PydanticUndefined else [default]
    raw = data[target]
    if not isinstance(raw, dict):
        return [raw]
    if isinstance(raw.get("choice"), list):
        return list(raw["choice"])
    for key in ("int", "float"):
        ends = raw.get(key)
        if isinstance(ends, (list, tuple)) and len(ends) == 2 and all(map(_number, ends)):
            return list(ends)
    if raw.get("bool") == "any":
        return [False, True]
    return []


_ADAPTERS: dict[tuple[type[BaseModel], str], TypeAdapter[Any]] = {}


def _adapter(frozen: type[BaseModel], field: str) -> TypeAdapter[Any]:
    key = (frozen, field)
    if key not in _ADAPTERS:
        info = frozen.model_fields[field]
        annotation: Any = info.annotation
        typed: Any = Annotated[(annotation, *info.metadata)] if info.metadata else annotation
        _ADAPTERS[key] = TypeAdapter(typed)
    return _ADAPTERS[key]

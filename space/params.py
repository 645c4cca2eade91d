"""Leaves of a search spec: the value domains a sampler draws from, and their YAML forms.

Two layers live here:

* **Domains** (:class:`Fixed`, :class:`Categorical`, :class:`IntRange`, :class:`FloatRange`,
  :class:`Boolean`): plain frozen dataclasses that a sampler receives as ``sampler(label, domain)``.
  They know nothing about pydantic, so an Optuna adapter maps them one to one onto
  ``suggest_categorical`` / ``suggest_int(step=)`` / ``suggest_float(log=)``.
* **Leaf syntax**: every scalar field of the frozen :mod:`space.arch` models may be written in a
  spec either as a plain value (fixed) or as one of::

      {choice: [a, b, c]}                  # any field
      {int: [low, high], step: 2}          # integer fields; both ends inclusive
      {float: [low, high], log: true}      # float fields; log needs low > 0
      {bool: any}                          # boolean fields (true or false)
      {tie: other_field, scale: -1, offset: 0}   # not searched: another field's value

  A tie (:class:`TieLeaf`) gives a field the value of a sibling field of the same node (the
  same cell space or ``one_of`` branch, layer, ``time``, ``training``, ...), times ``scale``
  plus ``offset`` (numbers only; both default to a plain copy). It is no parameter of its own:
  the papers searched ``tau_multiplier = -tau_offset`` as ``tau_multiplier: {tie: tau_offset,
  scale: -1}``. The node checks its ties when it is validated
  (:func:`space.spec.base.check_ties`): unknown targets, ties to ties (so no chains nor
  cycles), non-searchable fields and values the tied field cannot take are errors at the tied
  field's path.

  :func:`leaf_type` builds, for a field's type ``T``, the tagged union ``T | Choice[T] | ...`` whose
  members are validated against ``T``'s own constraints (so ``kernel: {choice: [3, 40]}`` fails at
  ``kernel.choice.1``). The union is discriminated by a function on the mapping's key, never by
  trial and error.
"""

from __future__ import annotations

import math
import sys
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, cast

from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PositiveInt,
    Strict,
    Tag,
    create_model,
    model_validator,
)

Scalar = str | int | float | bool | None

# Tags of the leaf union members carry a leading '=' so that error locations can drop them
# (pydantic inserts the tag into the location: ``kernel.=choice.choice.1``).
TAG_PREFIX = "="
LEAF_KEYS = ("choice", "int", "float", "bool", "tie")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""Bounds of ``{int: [low, high]}`` (what Optuna and the database store)."""


# --------------------------------------------------------------------------------------------
# Domains: what a sampler sees
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixed:
    """A value that is not searched (never passed to a sampler)."""

    value: Any

    def size(self) -> int | None:
        return 1

    def describe(self) -> str:
        return f"fixed {self.value!r}"


@dataclass(frozen=True)
class Categorical:
    """One of ``choices`` (JSON scalars: str, int, float, bool or None)."""

    choices: tuple[Scalar, ...]

    def size(self) -> int | None:
        return len(self.choices)

    def values(self) -> tuple[Scalar, ...]:
        return self.choices

    def describe(self) -> str:
        return "choice " + ", ".join(_show(c) for c in self.choices)


@dataclass(frozen=True)
class IntRange:
    """``low, low + step, ..., high`` (both ends inclusive; ``high - low`` divisible by step).

    Never materialised by the package: :func:`finite_values` gives :meth:`as_range` (length,
    membership and indexing in constant time), so ``{int: [1, 1000000000000]}`` costs no more
    than ``{int: [1, 8]}``. ``values()`` lists every value: for small ranges only.
    """

    low: int
    high: int
    step: int = 1

    def size(self) -> int | None:
        return (self.high - self.low) // self.step + 1

    def as_range(self) -> range:
        return range(self.low, self.high + 1, self.step)

    def values(self) -> tuple[int, ...]:
        return tuple(self.as_range())

    def describe(self) -> str:
        step = f" step {self.step}" if self.step != 1 else ""
        return f"int {self.low}..{self.high}{step}"


@dataclass(frozen=True)
class FloatRange:
    """A real number in ``[low, high]``, uniform or log-uniform."""

    low: float
    high: float
    log: bool = False

    def size(self) -> int | None:
        return None  # continuous

    def describe(self) -> str:
        return f"float {self.low:g}..{self.high:g}{' log' if self.log else ''}"


@dataclass(frozen=True)
class Boolean:
    """``True`` or ``False``."""

    def size(self) -> int | None:
        return 2

    def values(self) -> tuple[bool, ...]:
        return (False, True)

    def describe(self) -> str:
        return "bool"


@dataclass(frozen=True)
class Tied:
    """The value of the sibling field ``target`` times ``scale`` plus ``offset`` (a
    :class:`TieLeaf`): not searched, one value per value of its target."""

    target: str
    scale: float = 1.0
    offset: float = 0.0

    def size(self) -> int | None:
        return 1

    def describe(self) -> str:
        return f"tied to {self.target}{_affine_text(self.scale, self.offset)}"

    def apply(self, value: Any, integer: bool) -> Any:
        """The tied field's value when its target holds ``value``: numbers scaled and offset
        (an int when the tied field holds ``integer`` values), anything else copied."""
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            return value
        result = value * self.scale + self.offset
        return int(result) if integer else float(result)


def _affine_text(scale: float, offset: float) -> str:
    text = "" if scale == 1 else f" * {scale:g}"
    return text + ("" if offset == 0 else f" {'+' if offset > 0 else '-'} {abs(offset):g}")


Domain = Fixed | Categorical | IntRange | FloatRange | Boolean | Tied
SearchDomain = Categorical | IntRange | FloatRange | Boolean


def finite_values(domain: Domain) -> Sequence[Any] | None:
    """Every value of a finite domain in order (a lazy ``range`` for an int range: take its
    ``len``, test ``in``, index it, never list it), or None for a continuous one."""
    if isinstance(domain, Fixed):
        return (domain.value,)
    if isinstance(domain, (FloatRange, Tied)):
        return None  # continuous, or as many as its target's (unknown here)
    if isinstance(domain, IntRange):
        return domain.as_range()
    return domain.values()


def domain_bounds(domain: Domain) -> tuple[Any, Any] | None:
    """(min, max) of a numeric domain (None when it holds non-numbers, e.g. None or strings)."""
    if isinstance(domain, (IntRange, FloatRange)):
        return domain.low, domain.high
    values = finite_values(domain)
    if not values or not all(_is_number(v) for v in values):
        return None
    return min(values), max(values)


def numeric_bounds(domain: Domain) -> tuple[Any, Any] | None:
    """(min, max) over the numeric values of a domain, ignoring None (``{choice: [null, 4]}``
    gives (4, 4)); None when it holds no number. Constant time for ranges."""
    if isinstance(domain, (IntRange, FloatRange)):
        return domain.low, domain.high
    values = finite_values(domain)
    numbers = [v for v in values or () if _is_number(v)]
    return (min(numbers), max(numbers)) if numbers else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# --------------------------------------------------------------------------------------------
# Leaf syntax: pydantic models of the searched forms
# --------------------------------------------------------------------------------------------


class Leaf(BaseModel):
    """Base of the searched leaf forms; ``domain()`` gives what a sampler receives."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

    def domain(self) -> SearchDomain | Tied:
        raise NotImplementedError


class ChoiceLeaf(Leaf):
    values: list[Any] = Field(alias="choice", min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ChoiceLeaf:
        # 1 == True in Python: key on type and value so [1, true] stays two choices. A set keeps
        # this linear (a 30,000-value choice took 37 s pairwise).
        seen: set[Any] = set()
        for value in self.values:
            key = (type(value), _hashable(value))
            if key in seen:
                raise ValueError(f"duplicate choice {value!r}")
            seen.add(key)
        return self

    def domain(self) -> SearchDomain:
        return Categorical(tuple(self.values))


class IntLeaf(Leaf):
    bounds: tuple[int, int] = Field(alias="int")
    step: PositiveInt = 1

    @model_validator(mode="after")
    def _check(self) -> IntLeaf:
        low, high = self.bounds
        if low > high:
            raise ValueError(f"int range [{low}, {high}] has low above high")
        if low < INT64_MIN or high > INT64_MAX:
            # Optuna and the database store 64-bit integers; a range's length must fit too.
            raise ValueError(f"int range [{low}, {high}] must lie within 64-bit integers")
        if (high - low) % self.step:
            raise ValueError(
                f"int range [{low}, {high}]: high - low must be a multiple of step {self.step}"
            )
        if (high - low) // self.step >= sys.maxsize:
            raise ValueError(f"int range [{low}, {high}] step {self.step} has too many values")
        return self

    def domain(self) -> SearchDomain:
        return IntRange(self.bounds[0], self.bounds[1], self.step)


class FloatLeaf(Leaf):
    bounds: tuple[float, float] = Field(alias="float")
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> FloatLeaf:
        low, high = self.bounds
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise ValueError(f"float range [{low}, {high}] needs finite low < high")
        if self.log and low <= 0:
            raise ValueError(f"a log float range needs low > 0 (got {low})")
        return self

    def domain(self) -> SearchDomain:
        return FloatRange(float(self.bounds[0]), float(self.bounds[1]), self.log)


def _hashable(value: Any) -> Any:
    """A hashable stand-in for a choice value (choices of lists or mappings are rare)."""
    if isinstance(value, dict):
        return ("dict", tuple((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("list", tuple(_hashable(v) for v in value))
    if isinstance(value, BaseModel):
        return ("model", value.model_dump_json())
    return value


def _not_bool(value: Any) -> Any:
    """Numbers are numbers: YAML's ``true`` is not 1 (pydantic's lax mode would take it)."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not a bool")
    return value


class BoolLeaf(Leaf):
    any_: Literal["any"] = Field(alias="bool")

    def domain(self) -> SearchDomain:
        return Boolean()


class BadTie(dict[str, Any]):
    """A ``{tie: ...}`` mapping its node found wrong (see :func:`space.spec.base.check_ties`):
    :class:`TieLeaf` reports ``message`` at the tied field's own path."""

    def __init__(self, raw: dict[str, Any], message: str):
        super().__init__(raw)
        self.message = message


FiniteFloat = Annotated[float, Strict(), AllowInfNan(False), BeforeValidator(_not_bool)]


class TieLeaf(Leaf):
    """``{tie: FIELD, scale: S, offset: O}``: the value of the sibling ``FIELD`` times ``S``
    plus ``O`` (not searched; see the module docstring)."""

    target: str = Field(alias="tie", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)
    scale: FiniteFloat = 1.0
    offset: FiniteFloat = 0.0

    @model_validator(mode="before")
    @classmethod
    def _reported(cls, data: Any) -> Any:
        if isinstance(data, BadTie):
            raise ValueError(data.message)
        return data

    def domain(self) -> Tied:
        return Tied(self.target, self.scale, self.offset)


def domain_of(value: Any) -> Domain:
    """The domain of a validated spec field: a leaf model's domain, else the value fixed."""
    if isinstance(value, Leaf):
        return value.domain()
    return Fixed(value)


def is_searched(value: Any) -> bool:
    if not isinstance(value, Leaf) or isinstance(value, TieLeaf):
        return False
    return len(finite_values(value.domain()) or (0, 1)) > 1


# --------------------------------------------------------------------------------------------
# Building the ``T | leaf`` union for a field type
# --------------------------------------------------------------------------------------------


def _leaf_tag(value: Any) -> str | None:
    if isinstance(value, BadTie):
        return TAG_PREFIX + "tie"
    if isinstance(value, Leaf):
        for cls, tag in _LEAF_TAGS.items():
            if isinstance(value, cls):
                return TAG_PREFIX + tag
        return None
    if isinstance(value, dict):
        keys = [k for k in LEAF_KEYS if k in value]
        return TAG_PREFIX + keys[0] if len(keys) == 1 else None
    return TAG_PREFIX + "fixed"


_LEAF_TAGS: dict[type, str] = {
    ChoiceLeaf: "choice",
    IntLeaf: "int",
    FloatLeaf: "float",
    BoolLeaf: "bool",
    TieLeaf: "tie",
}


def value_kinds(tp: Any) -> set[type]:
    """The plain types a field of type ``tp`` holds, None left out (``int | None`` -> {int})."""
    return _base_types(tp) - {type(None)}


def holds_integers(tp: Any) -> bool:
    """True for an int field (that takes no float): a tie into it gives an int."""
    kinds = _base_types(tp)
    return int in kinds and float not in kinds


def _base_types(tp: Any) -> set[type]:
    """The plain Python types a (possibly Annotated / Optional / Literal) type admits."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _base_types(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        out: set[type] = set()
        for arg in typing.get_args(tp):
            out |= _base_types(arg)
        return out
    if origin is Literal:
        return {type(a) for a in typing.get_args(tp)}
    if tp is None or tp is type(None):
        return {type(None)}
    return {tp} if isinstance(tp, type) else {object}


_CACHE: dict[str, Any] = {}
_NO_BOOL = BeforeValidator(_not_bool)


def _annotated(tp: Any, metadata: Sequence[Any]) -> Any:
    # Subscripting with a tuple (not ``Annotated[tp, *metadata]``) keeps Python 3.10 support.
    return Annotated[(tp, *metadata)] if metadata else tp


def _leaf_model(name: str, base: type[Leaf], alias: str, field_type: Any, tag: str) -> Any:
    fields: dict[str, Any] = {_FIELD_OF[alias]: (field_type, Field(alias=alias))}
    model = create_model(name, __base__=base, **fields)
    return _annotated(model, (Tag(TAG_PREFIX + tag),))


_FIELD_OF = {"choice": "values", "int": "bounds", "float": "bounds"}


def tagged_union(members: Sequence[Any], discriminator: Discriminator) -> Any:
    """``Annotated[Union[members], discriminator]`` built at run time."""
    union = cast(Any, Union)[tuple(members)]
    return _annotated(union, (discriminator,))


def _type_name(tp: Any, metadata: Sequence[Any]) -> str:
    """A readable, deterministic name for a field type: ``Bool``, ``IntGe1Le31``,
    ``OptionalInt``, ``SigmoidTanh`` (a Literal), used to name leaf models in the JSON Schema."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Annotated:
        return _type_name(args[0], (*args[1:], *metadata))
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        inner = _type_name(rest[0], metadata) if len(rest) == 1 else "Value"
        return "Optional" + inner if len(rest) < len(args) else inner
    if origin is Literal:
        return "".join(str(a).replace("_", " ").title().replace(" ", "") for a in args)
    base = tp.__name__.capitalize() if isinstance(tp, type) else "Value"
    for item in metadata:
        for attr in ("gt", "ge", "lt", "le"):
            bound = getattr(item, attr, None)
            if bound is not None:
                base += f"{attr.capitalize()}{bound:g}".replace(".", "p").replace("-", "m")
    return base


def leaf_type(tp: Any, metadata: Sequence[Any] = (), name: str | None = None) -> Any:
    """The spec type of a field of type ``tp`` (with pydantic ``metadata`` constraints).

    Types are cached by their representation, so equal field types share one set of leaf
    models, named after the type (or ``name``) in the JSON Schema.
    """
    full = _annotated(tp, metadata)
    key = repr(full)
    if key in _CACHE:
        return _CACHE[key]
    name = name or _type_name(tp, metadata)
    kinds = _base_types(tp)
    value = full
    if bool not in kinds and kinds & {int, float}:
        value = _annotated(full, (_NO_BOOL,))  # fixed values and choices of a number field
    members: list[Any] = [_annotated(value, (Tag(TAG_PREFIX + "fixed"),))]
    choices = _annotated(list[value], (Field(min_length=1),))  # type: ignore[valid-type]
    members.append(_leaf_model(f"{name}Choice", ChoiceLeaf, "choice", choices, "choice"))
    expected = ["a value", "{choice: [...]}"]
    if int in kinds:
        bound = _annotated(int, (*metadata, _NO_BOOL))
        ints: Any = tuple[bound, bound]  # type: ignore[valid-type]
        members.append(_leaf_model(f"{name}IntRange", IntLeaf, "int", ints, "int"))
        expected.append("{int: [low, high], step: N}")
    if float in kinds:
        bound = _annotated(float, (*metadata, _NO_BOOL))
        floats: Any = tuple[bound, bound]  # type: ignore[valid-type]
        members.append(_leaf_model(f"{name}FloatRange", FloatLeaf, "float", floats, "float"))
        expected.append("{float: [low, high], log: BOOL}")
    if bool in kinds:
        members.append(_annotated(BoolLeaf, (Tag(TAG_PREFIX + "bool"),)))
        expected.append("{bool: any}")
    members.append(_annotated(TieLeaf, (Tag(TAG_PREFIX + "tie"),)))
    expected.append("{tie: FIELD}")
    message = "expected " + ", ".join(expected[:-1]) + " or " + expected[-1]
    result = tagged_union(
        members, Discriminator(_leaf_tag, custom_error_type="leaf", custom_error_message=message)
    )
    _CACHE[key] = result
    return result

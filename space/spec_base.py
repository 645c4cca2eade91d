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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    Tag,
)
from pydantic_core import CoreSchema

from space import arch as A
from space.params import TAG_PREFIX, leaf_type, tagged_union


class SpaceNode(BaseModel):
    """Base of every spec model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
# Bases of the generated cell and readout spaces (space.spec_generated)
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

"""What every spec model shares: the strict base class, generated searchable models, and tagged
unions whose discriminator reads a key (``kind``, ``name``) so errors name the member tried."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, create_model

from space.params import TAG_PREFIX, leaf_type, tagged_union


class SpaceNode(BaseModel):
    """Base of every spec model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------
# Generating searchable models from the frozen arch models
# --------------------------------------------------------------------------------------------


def space_model(
    frozen: type[BaseModel],
    name: str,
    *,
    base: type[SpaceNode] = SpaceNode,
    keep: Sequence[str] = (),
    exclude: Sequence[str] = (),
    overrides: Mapping[str, tuple[Any, Any]] | None = None,
) -> type[SpaceNode]:
    """A spec model with every field of ``frozen`` as a leaf (``T | searched form``).

    ``keep`` fields keep their frozen type (e.g. a ``kind`` tag); ``overrides`` give a field a
    spec type of its own; ``exclude`` drops fields. Defaults are the frozen model's defaults.
    """
    overrides = overrides or {}
    fields: dict[str, Any] = {}
    for field_name, info in frozen.model_fields.items():
        if field_name in exclude:
            continue
        if field_name in overrides:
            fields[field_name] = overrides[field_name]
            continue
        ftype: Any = info.annotation
        if field_name in keep:
            ftype = Annotated[(ftype, *info.metadata)] if info.metadata else ftype
        else:
            ftype = leaf_type(info.annotation, info.metadata)
        default = info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]
        fields[field_name] = (ftype, Field(default=default, description=info.description))
    for field_name, definition in overrides.items():
        fields.setdefault(field_name, definition)  # extra fields, e.g. a layer's `optional`
    model = create_model(name, __base__=base, __doc__=frozen.__doc__, **fields)
    return model


def keyed_tag(key: str, extra: Callable[[Any], str | None] | None = None) -> Callable[[Any], Any]:
    """A discriminator reading ``key`` from a mapping or model (tags get the '=' prefix)."""

    def tag(value: Any) -> str | None:
        if extra is not None and (special := extra(value)) is not None:
            return special
        raw = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
        return TAG_PREFIX + raw if isinstance(raw, str) else None

    return tag


def tagged_choice(members: Mapping[str, Any], tag: Callable[[Any], Any], message: str) -> Any:
    tagged = [Annotated[(tp, Tag(TAG_PREFIX + name))] for name, tp in members.items()]
    discriminator = Discriminator(tag, custom_error_type="kind", custom_error_message=message)
    return tagged_union(tagged, discriminator)

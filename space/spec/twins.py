"""The searchable twin of every frozen model in :mod:`space.arch` and of every registered cell
family (:mod:`space.cells`), built when this module is imported.

Every field ``f: T`` of a frozen model becomes ``f: T | {choice: ...} | {int: ...} | {float:
...} | {bool: any} | {tie: ...}`` with the frozen field's bounds and default (pydantic validates
it as the leaf union of :class:`~space.spec.base.FromArch`), so a new arch field, or a new cell
family, is searchable without writing spec code. The classes are made by
:func:`pydantic.create_model` from :data:`TWINS`: there is no generated file to keep current.

To mypy each twin is a class whose copied fields read as ``Any`` (the ``TYPE_CHECKING`` block):
the twins' field types are the frozen models' types, which mypy checks where they are declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union, cast

from pydantic import BaseModel, Field, create_model
from pydantic.fields import FieldInfo

from space import arch as A
from space.spec.base import CellKindBase, FromArch, ReadoutKindBase, SpaceNode


@dataclass(frozen=True)
class Twin:
    """One searchable class: ``name`` from ``frozen`` on ``base``; ``keep`` fields keep their
    frozen type, ``exclude`` fields are left out, ``override`` makes every field an optional
    override (None: not overridden)."""

    name: str
    frozen: type[BaseModel]
    base: type[SpaceNode] = SpaceNode
    keep: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    override: bool = False


EDGE_ENDS = ("source", "target")
# Fields the spec writes its own way (a layer's ``cell``, the time's ``readout``) are left to the
# hand-written subclasses in space.spec.nodes.
TWINS: tuple[Twin, ...] = (
    Twin("InputSpace", A.InputShape),
    Twin("LayerFields", A.LayerArch, keep=("name",), exclude=("cell",)),
    Twin("HeadSpace", A.Head),
    Twin("TimeFields", A.TimeArch, exclude=("readout",)),
    Twin("TrainingSpace", A.Training),
    Twin("ResizeSpace", A.Resize),
    Twin("InitSpace", A.Init),
    Twin("FeedbackSettings", A.FeedbackEdge, exclude=EDGE_ENDS),
    Twin("EdgeOverrides", A.FeedbackEdge, exclude=EDGE_ENDS, override=True),
    *(Twin(f"{m.__name__}Space", m, CellKindBase, keep=("kind",)) for m in A.CELL_MODELS.values()),
    *(
        Twin(f"{m.__name__}Space", m, ReadoutKindBase, keep=("kind",))
        for m in A.READOUT_MODELS.values()
    ),
)


def _field(twin: Twin, name: str, info: FieldInfo) -> tuple[Any, Any]:
    """The (annotation, default) of one searchable field."""
    keep = name in twin.keep
    if keep and not info.metadata:
        annotation: Any = info.annotation  # a kind tag: the frozen Literal as it is
    else:
        marker = FromArch(twin.frozen, name, keep=keep, optional=twin.override)
        annotation = Annotated[Any, marker]
    if twin.override:
        return annotation, Field(default=None, description=f"Override of feedback.{name}")
    if info.is_required():
        return annotation, ...
    return annotation, Field(default=info.default, description=info.description)


def build(twin: Twin) -> type[SpaceNode]:
    """The searchable class of ``twin``."""
    fields = {
        name: _field(twin, name, info)
        for name, info in twin.frozen.model_fields.items()
        if name not in twin.exclude
    }
    doc = None if twin.override else twin.frozen.__doc__
    return create_model(  # type: ignore[call-overload,no-any-return]
        twin.name, __base__=twin.base, __doc__=doc, __module__=__name__, **fields
    )


_BUILT: dict[str, type[SpaceNode]] = {twin.name: build(twin) for twin in TWINS}


def _by_kind(models: Mapping[str, type[BaseModel]]) -> dict[str, Any]:
    return {kind: _BUILT[f"{m.__name__}Space"] for kind, m in models.items()}


CELL_SPACES: dict[str, type[CellKindBase]] = _by_kind(A.CELL_MODELS)
"""Every cell kind's searchable class, in the registry's order."""
READOUT_SPACES: dict[str, type[ReadoutKindBase]] = _by_kind(A.READOUT_MODELS)
"""Every readout kind's searchable class."""

if TYPE_CHECKING:  # the names other modules use, each its own class (as bases they must differ)

    class _Twin(SpaceNode):
        def __getattr__(self, name: str) -> Any: ...  # a field copied from the frozen model

    class InputSpace(_Twin): ...

    class LayerFields(_Twin): ...

    class HeadSpace(_Twin): ...

    class TimeFields(_Twin): ...

    class TrainingSpace(_Twin): ...

    class ResizeSpace(_Twin): ...

    class InitSpace(_Twin): ...

    class FeedbackSettings(_Twin): ...

    class EdgeOverrides(_Twin): ...

    class CellKindSpace(CellKindBase):
        def __getattr__(self, name: str) -> Any: ...

    class ReadoutKindSpace(ReadoutKindBase):
        def __getattr__(self, name: str) -> Any: ...

    class LastReadoutSpace(ReadoutKindSpace): ...

    class MeanReadoutSpace(ReadoutKindSpace): ...

else:
    globals().update(_BUILT)
    # The static unions of every kind, as pydantic reads them in a field's annotation.
    CellKindSpace = cast(Any, Union)[tuple(CELL_SPACES.values())]
    ReadoutKindSpace = cast(Any, Union)[tuple(READOUT_SPACES.values())]

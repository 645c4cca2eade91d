"""The searchable space of a spec: cell spaces (``kind`` or ``one_of``), layers, head, time
and readout, and feedback candidates. Models whose fields mirror a frozen :mod:`space.arch` model
are generated from it (every field a leaf, see :mod:`space.params`)."""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    create_model,
)

from space import arch as A
from space.params import TAG_PREFIX, leaf_type
from space.spec_base import SpaceNode, keyed_tag, space_model, tagged_choice

SPEC_FORMAT = "convnas.spec/1"
FEEDBACK_RULES = ("later_to_earlier_cells", "later_to_earlier")


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------

Share = Literal["shared", "per_layer"]


class CellSpaceBase(SpaceNode):
    share: Share | None = Field(
        default=None,
        description="Only on a named cell: 'shared' (default; one sample for every layer "
        "naming it) or 'per_layer' (an independent sample for each layer).",
    )


class CellKindBase(CellSpaceBase):
    branch: A.Name | None = Field(
        default=None,
        description="Name of this alternative inside one_of (default: its kind); the label "
        "of its parameters.",
    )


CELL_SPACES: dict[str, type[SpaceNode]] = {
    kind: space_model(frozen, f"{frozen.__name__}Space", base=CellKindBase, keep=("kind",))
    for kind, frozen in A.CELL_MODELS.items()
}
_KINDS_TEXT = "|".join(A.CELL_KINDS)
if TYPE_CHECKING:
    CellBranch = Any
else:
    CellBranch = tagged_choice(
        CELL_SPACES, keyed_tag("kind"), f"expected a mapping with kind: {_KINDS_TEXT}"
    )


class CellOneOf(CellSpaceBase):
    """A searched choice among cell spaces (label ``<prefix>.kind``; choices = branch names)."""

    one_of: list[CellBranch] = Field(min_length=1)


def _one_of_tag(value: Any) -> str | None:
    has = "one_of" in value if isinstance(value, dict) else hasattr(value, "one_of")
    return TAG_PREFIX + "one_of" if has else None


if TYPE_CHECKING:
    CellSpace = Any
else:
    CellSpace = tagged_choice(
        {**CELL_SPACES, "one_of": CellOneOf},
        keyed_tag("kind", _one_of_tag),
        f"expected a mapping with kind: {_KINDS_TEXT}, or one_of: [...]",
    )


def _layer_cell_tag(value: Any) -> str | None:
    if value is None:
        return TAG_PREFIX + "null"
    if isinstance(value, str):
        return TAG_PREFIX + "ref"
    return None


if TYPE_CHECKING:
    LayerCell = Any
else:
    LayerCell = tagged_choice(
        {"null": None, "ref": A.Name, **CELL_SPACES, "one_of": CellOneOf},
        keyed_tag("kind", lambda v: _layer_cell_tag(v) or _one_of_tag(v)),
        f"expected the name of a cell in 'cells', a mapping with kind: {_KINDS_TEXT}, "
        "or one_of: [...]",
    )


def branch_name(branch: Any) -> str:
    return str(branch.branch or branch.kind)


# --------------------------------------------------------------------------------------------
# Backbone: input, layers, head, time
# --------------------------------------------------------------------------------------------

if TYPE_CHECKING:
    InputSpace = Any
else:
    InputSpace = space_model(A.InputShape, "InputSpace")
if TYPE_CHECKING:
    LayerSpace = Any
else:
    LayerSpace = space_model(
        A.LayerArch,
        "LayerSpace",
        keep=("name",),
        overrides={
            "cell": (
                LayerCell,
                Field(default=None, description="A cell name, a cell space, or none"),
            ),
            "optional": (
                bool,
                Field(
                    default=False, description="Search the layer's presence (layers.NAME.present)"
                ),
            ),
        },
    )
if TYPE_CHECKING:
    HeadSpace = Any
else:
    HeadSpace = space_model(A.Head, "HeadSpace")


class ReadoutKindBase(SpaceNode):
    branch: A.Name | None = None


READOUT_SPACES: dict[str, type[SpaceNode]] = {
    kind: space_model(frozen, f"{frozen.__name__}Space", base=ReadoutKindBase, keep=("kind",))
    for kind, frozen in A.READOUT_MODELS.items()
}
_READOUTS_TEXT = "|".join(A.READOUT_MODELS)


def _readout_shorthand(value: Any) -> Any:
    if isinstance(value, str):
        return {"kind": value}
    if isinstance(value, dict) and isinstance(value.get("one_of"), list):
        return {**value, "one_of": [_readout_shorthand(v) for v in value["one_of"]]}
    return value


if TYPE_CHECKING:
    ReadoutBranch = Any
else:
    ReadoutBranch = tagged_choice(
        READOUT_SPACES, keyed_tag("kind"), f"expected a readout kind: {_READOUTS_TEXT}"
    )


ReadoutKind = Literal["last", "mean", "max_conf", "thresh"]
assert set(typing.get_args(ReadoutKind)) == set(A.READOUT_MODELS)
if TYPE_CHECKING:
    ReadoutItem = Any
else:
    ReadoutItem = Annotated[
        (
            ReadoutBranch,
            BeforeValidator(_readout_shorthand, json_schema_input_type=ReadoutBranch | ReadoutKind),
        )
    ]


class ReadoutOneOf(SpaceNode):
    one_of: list[ReadoutItem] = Field(min_length=1)


if TYPE_CHECKING:
    ReadoutSpace = Any
else:
    _READOUT_UNION = tagged_choice(
        {**READOUT_SPACES, "one_of": ReadoutOneOf},
        keyed_tag("kind", _one_of_tag),
        f"expected a readout kind ({_READOUTS_TEXT}), a mapping with kind, or one_of: [...]",
    )
    ReadoutSpace = Annotated[
        (
            _READOUT_UNION,
            BeforeValidator(
                _readout_shorthand, json_schema_input_type=_READOUT_UNION | ReadoutKind
            ),
        )
    ]
if TYPE_CHECKING:
    TimeSpace = Any
else:
    TimeSpace = space_model(
        A.TimeArch,
        "TimeSpace",
        overrides={
            "readout": (ReadoutSpace, Field(default_factory=lambda: READOUT_SPACES["last"]())),
        },
    )
if TYPE_CHECKING:
    TrainingSpace = Any
else:
    TrainingSpace = space_model(A.Training, "TrainingSpace")


# --------------------------------------------------------------------------------------------
# Feedback
# --------------------------------------------------------------------------------------------

_EDGE_SETTINGS = ("entry", "kernel", "depth_separable", "activation")
if TYPE_CHECKING:
    FeedbackSettings = Any
else:
    FeedbackSettings = space_model(A.FeedbackEdge, "FeedbackSettings", exclude=("source", "target"))
if TYPE_CHECKING:
    _BoolLeaf = Any
else:
    _BoolLeaf = leaf_type(bool)


def _optional_setting(field: str) -> tuple[Any, Any]:
    info = A.FeedbackEdge.model_fields[field]
    ftype = leaf_type(info.annotation, info.metadata)
    return (ftype | None, Field(default=None, description="Override of feedback." + field))


class EdgeSpaceBase(SpaceNode):
    source: A.Name
    target: A.Name
    enabled: _BoolLeaf = Field(
        default_factory=lambda: {"bool": "any"},
        validate_default=True,
        description="Searched on/off by default (label feedback.SOURCE->TARGET); true = always.",
    )


if TYPE_CHECKING:
    EdgeSpace = Any
else:
    EdgeSpace = create_model(
        "EdgeSpace",
        __base__=EdgeSpaceBase,
        **{name: _optional_setting(name) for name in _EDGE_SETTINGS},
    )


def _candidates_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return TAG_PREFIX + "rule"
    if isinstance(value, (list, tuple)):
        return TAG_PREFIX + "list"
    return None


if TYPE_CHECKING:
    Candidates = Any
else:
    Candidates = tagged_choice(
        {"rule": Literal[FEEDBACK_RULES], "list": list[EdgeSpace]},
        _candidates_tag,
        f"expected a rule ({', '.join(FEEDBACK_RULES)}) or a list of {{source, target}} edges",
    )


class FeedbackSpaceBase(SpaceNode):
    """Long-range feedback: which candidate edges exist is searched, each edge on/off.

    Candidates are visited in order (rules: by source layer, then target); once ``max_edges``
    edges are on, the rest are off and not sampled. Edges touching an absent optional layer
    drop out. An edge whose sampled ``entry`` is ``cell`` while its target has no rgc memory is
    re-routed to ``out`` (the entry the released models use).
    """

    candidates: Candidates = Field(default_factory=list)
    among: list[A.Name] | None = Field(
        default=None, description="Restrict a rule's candidates to these layers"
    )
    max_edges: int | None = Field(default=None, ge=0)
    share: Literal["shared", "per_edge"] = Field(
        default="shared",
        description="Edge settings: one sample for all edges (labels feedback.entry, ...) or "
        "one per edge (feedback.SOURCE->TARGET.entry, ...)",
    )


if TYPE_CHECKING:
    FeedbackSpace = Any
else:
    FeedbackSpace = create_model(
        "FeedbackSpace",
        __base__=FeedbackSpaceBase,
        **{
            # keep the metadata: it holds the leaf union's discriminator
            name: (
                Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation,
                Field(default=info.default, description=info.description),
            )
            for name, info in FeedbackSettings.model_fields.items()
        },
    )

"""The searchable space of a spec: cell spaces (``kind`` or ``one_of``), layers, head, time and
readout, and feedback candidates.

Models whose fields mirror a frozen :mod:`space.arch` model come from :mod:`space.spec.twins`
(every field a leaf, see :mod:`space.params`); this module adds what the spec writes its own way:
a layer's ``cell`` (a name, a cell space or none), ``one_of`` alternatives, the readout shorthand
and feedback candidates. Each union is ``Annotated[<static union>, ValidateAs(<tagged union>)]``:
mypy sees the member classes, pydantic picks the member by its key (``kind``, ``one_of``) so an
error names the member tried.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator

from space import arch as A
from space.params import TAG_PREFIX, BoolLeaf, ChoiceLeaf, TieLeaf, leaf_type
from space.spec.base import (
    CellSpaceBase,
    FromArch,
    SpaceNode,
    ValidateAs,
    keyed_tag,
    tagged,
    tagged_choice,
)
from space.spec.twins import (
    CELL_SPACES,
    READOUT_SPACES,
    CellKindSpace,
    EdgeOverrides,
    FeedbackSettings,
    LastReadoutSpace,
    LayerFields,
    ReadoutKindSpace,
    TimeFields,
)

SPEC_FORMAT = "convnas.spec/1"
FeedbackRule = Literal["later_to_earlier_cells", "later_to_earlier"]
FEEDBACK_RULES: tuple[str, ...] = typing.get_args(FeedbackRule)
ReadoutKind = Literal["last", "mean", "max_conf", "thresh"]
assert set(typing.get_args(ReadoutKind)) == set(A.READOUT_MODELS)


def branch_name(branch: CellKindSpace | ReadoutKindSpace) -> str:
    """The label part of a ``one_of`` alternative: its ``branch``, else its kind."""
    return branch.branch or branch.kind


def _one_of_tag(value: Any) -> str | None:
    has = "one_of" in value if isinstance(value, dict) else hasattr(value, "one_of")
    return TAG_PREFIX + "one_of" if has else None


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------

_KINDS_TEXT = "|".join(A.CELL_KINDS)
CellBranch = Annotated[
    CellKindSpace,
    tagged(CELL_SPACES, keyed_tag("kind"), f"expected a mapping with kind: {_KINDS_TEXT}"),
]


class CellOneOf(CellSpaceBase):
    """A searched choice among cell spaces (label ``<prefix>.kind``; choices = branch names)."""

    one_of: list[CellBranch] = Field(min_length=1)


Choice = Callable[[Mapping[str, Any], Callable[[Any], Any], str], ValidateAs]


def _kind_or_one_of(
    spaces: Mapping[str, Any], one_of: type[SpaceNode], expected: str, choice: Choice = tagged
) -> ValidateAs:
    """A space of one kind (by its ``kind``) or a ``one_of`` of them."""
    members = {**spaces, "one_of": one_of}
    return choice(members, keyed_tag("kind", _one_of_tag), f"{expected}, or one_of: [...]")


CellSpace = Annotated[
    CellKindSpace | CellOneOf,
    _kind_or_one_of(CELL_SPACES, CellOneOf, f"expected a mapping with kind: {_KINDS_TEXT}"),
]


def _layer_cell_tag(value: Any) -> str | None:
    if value is None:
        return TAG_PREFIX + "null"
    if isinstance(value, str):
        return TAG_PREFIX + "ref"
    return _one_of_tag(value)


LayerCell = Annotated[
    str | CellKindSpace | CellOneOf | None,
    tagged(
        {"null": None, "ref": A.Name, **CELL_SPACES, "one_of": CellOneOf},
        keyed_tag("kind", _layer_cell_tag),
        f"expected the name of a cell in 'cells', a mapping with kind: {_KINDS_TEXT}, "
        "or one_of: [...]",
    ),
]


# --------------------------------------------------------------------------------------------
# Layers, time and readout
# --------------------------------------------------------------------------------------------


class LayerSpace(LayerFields):
    """One layer of the space: every ``LayerArch`` field as a leaf, its ``cell`` (the name of a
    cell in ``cells``, an inline cell space, or none) and whether its presence is searched."""

    cell: LayerCell = Field(default=None, description="A cell name, a cell space, or none")
    optional: bool = Field(
        default=False, description="Search the layer's presence (layers.NAME.present)"
    )


_READOUTS_TEXT = "|".join(A.READOUT_MODELS)


def _readout_shorthand(value: Any) -> Any:
    if isinstance(value, str):
        return {"kind": value}
    if isinstance(value, dict) and isinstance(value.get("one_of"), list):
        return {**value, "one_of": [_readout_shorthand(v) for v in value["one_of"]]}
    return value


def _readouts(members: Mapping[str, Any], tag: Callable[[Any], Any], message: str) -> ValidateAs:
    """A tagged union of readout spaces that takes a bare kind name (``readout: mean``) too."""
    union = tagged_choice(members, tag, message)
    shorthand = BeforeValidator(_readout_shorthand, json_schema_input_type=union | ReadoutKind)
    return ValidateAs(Annotated[(union, shorthand)])


ReadoutItem = Annotated[
    ReadoutKindSpace,
    _readouts(READOUT_SPACES, keyed_tag("kind"), f"expected a readout kind: {_READOUTS_TEXT}"),
]


class ReadoutOneOf(SpaceNode):
    one_of: list[ReadoutItem] = Field(min_length=1)


ReadoutSpace = Annotated[
    ReadoutKindSpace | ReadoutOneOf,
    _kind_or_one_of(
        READOUT_SPACES,
        ReadoutOneOf,
        f"expected a readout kind ({_READOUTS_TEXT}), a mapping with kind",
        _readouts,
    ),
]


class TimeSpace(TimeFields):
    """The unroll (every ``TimeArch`` field as a leaf) and the readout: a kind, a mapping with
    ``kind``, or ``one_of`` alternatives (label ``time.readout.kind``)."""

    readout: ReadoutSpace = Field(default_factory=LastReadoutSpace)


CropDepthwise = Annotated[
    bool | ChoiceLeaf | BoolLeaf | TieLeaf, FromArch(A.Arch, "crop_depthwise")
]
"""The spec type of the arch's top-level ``crop_depthwise`` (a leaf like any other)."""


# --------------------------------------------------------------------------------------------
# Feedback
# --------------------------------------------------------------------------------------------

EDGE_SETTINGS: tuple[str, ...] = tuple(FeedbackSettings.model_fields)


class EdgeEnds(SpaceNode):
    source: A.Name
    target: A.Name
    enabled: Annotated[bool | ChoiceLeaf | BoolLeaf, ValidateAs(leaf_type(bool))] = Field(
        default_factory=lambda: {"bool": "any"},
        validate_default=True,
        description="Searched on/off by default (label feedback.SOURCE->TARGET); true = always.",
    )


class EdgeSpace(EdgeOverrides, EdgeEnds):
    """A candidate edge; its own settings, when given, override the feedback block's."""

    allows_ties: ClassVar[bool] = False


def _candidates_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return TAG_PREFIX + "rule"
    if isinstance(value, (list, tuple)):
        return TAG_PREFIX + "list"
    return None


Candidates = Annotated[
    FeedbackRule | list[EdgeSpace],
    tagged(
        {"rule": FeedbackRule, "list": list[EdgeSpace]},
        _candidates_tag,
        f"expected a rule ({', '.join(FEEDBACK_RULES)}) or a list of {{source, target}} edges",
    ),
]


class FeedbackChoice(SpaceNode):
    candidates: Candidates = Field(default_factory=list)
    among: list[A.Name] | None = Field(
        default=None, description="Restrict a rule's candidates to these layers"
    )
    min_edges: A.Int = Field(
        default=0, ge=0, description="Fewest edges on (searched and always-on edges together)"
    )
    max_edges: A.Int | None = Field(
        default=None, ge=0, description="Most edges on (None: every candidate may be on)"
    )
    share: Literal["shared", "per_edge"] = Field(
        default="shared",
        description="Edge settings: one sample for all edges (labels feedback.entry, ...) or "
        "one per edge (feedback.SOURCE->TARGET.entry, ...)",
    )

    @model_validator(mode="after")
    def _edge_bounds(self) -> FeedbackChoice:
        if self.max_edges is not None and self.min_edges > self.max_edges:
            raise ValueError(
                f"min_edges ({self.min_edges}) must not exceed max_edges ({self.max_edges})"
            )
        return self


class FeedbackSpace(FeedbackSettings, FeedbackChoice):
    """Long-range feedback: which candidate edges are on is searched.

    Candidates come in order (rules: by source layer, then target). A candidate with
    ``enabled: true`` is always on (the first ``max_edges`` of them); one with ``enabled:
    false`` never; the others are *searched*, and a sample draws them in two steps:

    1. ``feedback.edges``: how many searched candidates are on, an int uniform on
       ``min_edges - A .. max_edges - A`` (``A``: the always-on edges; clipped to ``0 ..
       number of searched candidates``; no ``max_edges``: up to all of them);
    2. which: each searched candidate has a priority ``feedback.SOURCE->TARGET.priority``
       (uniform on [0, 1]) and the ``edges`` of highest priority are on (asked only when
       ``0 < edges <`` the number of searched candidates, where the answer is not forced).

    So under the random sampler the count is uniform and, given the count, every subset of
    that size is equally likely: every candidate is on with the same probability. Optuna sees
    one int and one float per candidate under the same names in every trial, and TPE can learn
    which edges help by raising their priorities. Edges touching an absent optional layer drop
    out (and a count above the candidates left is clipped). An edge whose sampled ``entry`` is
    ``cell`` while its target has no rgc memory is re-routed to ``out`` (the entry the released
    models use).
    """

    allows_ties: ClassVar[bool] = False

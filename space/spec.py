"""The search spec: a searchable ConvRNN space plus dataset, objectives, constraints and settings.

A spec is a YAML or JSON document (see ``examples/*.yaml`` for annotated ones). Its searchable
models are *generated* from the frozen models in :mod:`space.arch`: every scalar field ``f: T`` of
``LayerArch``, each cell model, ``TimeArch``, ``Head``, ``Training`` and ``InputShape`` becomes
``f: T | {choice: ...} | {int: ...} | {float: ...} | {bool: any}`` (see :mod:`space.params`) with
the frozen model's default, so a new arch field is searchable without touching this module.

Structure (every mapping rejects unknown keys)::

    name, description
    dataset        {name: digits|shapes|pathfinder|imagefolder|npz, path?, val_fraction, ...}
                   or the shorthand "digits", "imagefolder:PATH", "npz:PATH"
    input          {size, channels}                  (leaves)
    classes        int
    layers         ordered list: every LayerArch field (leaves), plus
                     optional: true   the layer's presence is searched (label layers.NAME.present)
                     cell:            omitted = no cell; "NAME" = a named cell from ``cells``;
                                      an inline cell space (sampled for this layer alone)
    cells          NAME -> cell space; ``share: shared`` (default: one sample used by every layer
                   naming it) or ``share: per_layer`` (an independent sample per layer)
    cell space     {kind: KIND, <fields of that cell model as leaves>}
                   or {one_of: [cell space, ...]}: the kind is searched, only the chosen branch's
                   fields are sampled; two branches of one kind need distinct ``branch:`` names
    feedback       candidates (a rule or an explicit list), max_edges, share, and the edge
                   settings entry/kernel/depth_separable/activation (leaves)
    head, time     leaves; time.readout is a kind (last|mean|max_conf|thresh), a mapping, or
                   {one_of: [...]}
    training       every Training field (leaves)
    objectives     [{metric: val_acc|params|flops, goal: max|min}]
    constraints    {max_params, max_flops, max_activation_memory}  (e.g. 200k, 1.5M, 2GiB)
    search         {trials, time_budget, concurrency, sampler, scheduler, seed, resources}
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PositiveInt,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from space import arch as A
from space.datasets import DATASETS, DatasetRef
from space.errors import LineMap, Problem, SpecError, dotted, parse_text, read_document
from space.params import TAG_PREFIX, domain_bounds, domain_of, finite_values, leaf_type
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


# --------------------------------------------------------------------------------------------
# Dataset, objectives, constraints, search settings
# --------------------------------------------------------------------------------------------


Metric = Literal["val_acc", "params", "flops"]
DEFAULT_GOALS: dict[str, Literal["max", "min"]] = {
    "val_acc": "max",
    "params": "min",
    "flops": "min",
}


class Objective(SpaceNode):
    metric: Metric
    goal: Literal["max", "min"] | None = Field(
        default=None, description="Default: max for val_acc, min for params and flops"
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"metric": data} if isinstance(data, str) else data

    @property
    def direction(self) -> Literal["max", "min"]:
        return self.goal or DEFAULT_GOALS[self.metric]


def _objective_shorthand(value: Any) -> Any:
    return {"metric": value} if isinstance(value, str) else value


# ``objectives: [val_acc, {metric: params, goal: min}]``: a metric name alone is accepted.
ObjectiveItem = Annotated[
    Objective,
    BeforeValidator(_objective_shorthand, json_schema_input_type=Metric | Objective),
]

_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_amount(value: Any) -> Any:
    """``200k``, ``1.5M``, ``3G``, ``512MiB`` -> int; numbers pass through; other text is left
    for pydantic to reject."""
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", value)
    if not match:
        return value
    unit = match.group(2).lower().removesuffix("b") if match.group(2).lower() != "b" else ""
    factor = _UNITS.get(unit) or _BINARY.get(unit + "b" if unit.endswith("i") else "")
    if factor is None:
        return value
    return round(float(match.group(1)) * factor)


# What parse_amount accepts, for the JSON Schema: a number with an optional SI or binary unit.
_AMOUNT_TEXT = r"^\s*[0-9]*\.?[0-9]+(e[0-9]+)?\s*([kKmMgGtT]|[kKmMgGtT]i)?[bB]?\s*$"
Amount = Annotated[
    int,
    Field(gt=0),
    BeforeValidator(
        parse_amount,
        json_schema_input_type=Annotated[int, Field(gt=0)]
        | Annotated[str, Field(pattern=_AMOUNT_TEXT)],
    ),
]


class Constraints(SpaceNode):
    """Candidates over a limit (by the analytic cost model) are rejected before training."""

    max_params: Amount | None = None
    max_flops: Amount | None = Field(
        default=None, description="Multiply-adds for one image over the whole unroll"
    )
    max_activation_memory: Amount | None = Field(
        default=None, description="Bytes, for backprop through time of one image"
    )


_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> Any:
    """``90``, ``90s``, ``30m``, ``2h`` -> seconds."""
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhd]?)\s*", value)
    if not match:
        return value
    return float(match.group(1)) * _DURATION[match.group(2) or "s"]


Duration = Annotated[
    float,
    Field(gt=0),
    BeforeValidator(
        parse_duration,
        json_schema_input_type=Annotated[float, Field(gt=0)]
        | Annotated[str, Field(pattern=r"^\s*[0-9]*\.?[0-9]+\s*[smhd]?\s*$")],
    ),
]


class Resources(SpaceNode):
    cpu: float = Field(default=1.0, gt=0.0)
    gpu: float = Field(default=0.0, ge=0.0, description="Fractions below 1 share a GPU")

    @field_validator("gpu")
    @classmethod
    def _whole_above_one(cls, value: float) -> float:
        if value > 1 and value != int(value):
            raise ValueError("more than one GPU per trial must be a whole number")
        return value


class SearchSettings(SpaceNode):
    trials: PositiveInt = 20
    time_budget: Duration | None = Field(
        default=None, description="Wall-clock limit in seconds (or 30m, 2h)"
    )
    concurrency: PositiveInt = 1
    sampler: Literal["tpe", "random", "nsga2", "motpe"] = "tpe"
    scheduler: Literal["asha", "fifo"] | None = Field(
        default=None, description="Default: asha for one objective, fifo for several"
    )
    seed: int | None = None
    resources: Resources = Field(default_factory=Resources)


# --------------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------------


class SearchSpec(SpaceNode):
    """A complete search: the searchable ConvRNN space and how to search it."""

    format: Literal["convnas.spec/1"] = "convnas.spec/1"
    name: A.Name
    description: str = ""
    dataset: DatasetRef
    input: InputSpace
    classes: int = Field(ge=2, le=100000)
    layers: list[LayerSpace] = Field(min_length=1)
    cells: dict[A.Name, CellSpace] = Field(default_factory=dict)
    feedback: FeedbackSpace = Field(default_factory=FeedbackSpace)
    head: HeadSpace = Field(default_factory=HeadSpace)
    time: TimeSpace = Field(default_factory=TimeSpace)
    training: TrainingSpace = Field(default_factory=TrainingSpace)
    objectives: list[ObjectiveItem] = Field(
        default_factory=lambda: [Objective(metric="val_acc")], min_length=1
    )
    constraints: Constraints = Field(default_factory=Constraints)
    search: SearchSettings = Field(default_factory=SearchSettings)

    @property
    def scheduler(self) -> Literal["asha", "fifo"]:
        if self.search.scheduler:
            return self.search.scheduler
        return "asha" if len(self.objectives) == 1 else "fifo"

    def layer(self, name: str) -> Any:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def edge_candidates(self) -> list[Any]:
        """The candidate edges in visiting order (rules expanded into EdgeSpace objects)."""
        fb = self.feedback
        if not isinstance(fb.candidates, str):
            return list(fb.candidates)
        allowed = set(fb.among) if fb.among is not None else None
        names = [layer.name for layer in self.layers]
        if fb.candidates == "later_to_earlier_cells":
            names = [layer.name for layer in self.layers if has_declared_cell(layer)]
        if allowed is not None:
            names = [n for n in names if n in allowed]
        return [
            EdgeSpace(source=src, target=tgt) for i, src in enumerate(names) for tgt in names[:i]
        ]


def has_declared_cell(layer: Any) -> bool:
    """A layer that names or holds a cell space other than a fixed ``kind: none``."""
    cell = layer.cell
    return cell is not None and getattr(cell, "kind", None) != "none"


# --------------------------------------------------------------------------------------------
# Loading and semantic checks
# --------------------------------------------------------------------------------------------


def _clean_loc(loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """Drop union tags ('=choice') and validator labels from a pydantic location."""
    return tuple(
        part
        for part in loc
        if not (
            isinstance(part, str)
            and (part.startswith(TAG_PREFIX) or "[" in part or part.startswith("function-"))
        )
    )


def _is_union_member(loc: Sequence[str | int]) -> bool:
    return any(isinstance(part, str) and part.startswith(TAG_PREFIX) for part in loc)


def _union_echoes(errors: Sequence[Any]) -> set[int]:
    """Errors that only repeat a deeper one: a union member's error at a path that another error
    extends (e.g. ``feedback.entry`` "not a literal" beside ``feedback.entry.choice.1``)."""
    paths = [dotted(_clean_loc(err["loc"])) for err in errors]
    return {
        i
        for i, err in enumerate(errors)
        if _is_union_member(err["loc"])
        and any(j != i and other.startswith(paths[i] + ".") for j, other in enumerate(paths))
    }


def _dataset_options_text(loc: Sequence[str | int]) -> str:
    """ "digits accepts options: limit, seed, val_fraction" for an unknown dataset option."""
    tags = [p[len(TAG_PREFIX) :] for p in loc if isinstance(p, str) and p.startswith(TAG_PREFIX)]
    model = DATASETS.get(tags[0]) if tags else None
    if model is None:
        return "unknown dataset option"
    options = ", ".join(sorted(name for name in model.model_fields if name != "name"))
    return f"unknown option: {tags[0]} accepts options: {options}"


def problems_from_validation(
    exc: ValidationError, source: str | None, lines: LineMap | None
) -> list[Problem]:
    problems: list[Problem] = []
    errors = list(exc.errors(include_url=False))
    echoes = _union_echoes(errors)
    for i, err in enumerate(errors):
        if i in echoes:
            continue
        loc = _clean_loc(err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden" and loc[:1] == ("dataset",):
            message = _dataset_options_text(err["loc"])
        kwargs: dict[str, Any] = {}
        value = err.get("input")
        if (err["type"] != "missing" and not isinstance(value, dict)) or err["type"] in (
            "kind",
            "leaf",
        ):
            kwargs["value"] = value
        line = lines.line_of(loc) if lines else None
        problems.append(Problem(dotted(loc), message, line=line, source=source, **kwargs))
    return problems


def spec_from_data(data: Any, source: str = "<spec>", lines: LineMap | None = None) -> SearchSpec:
    """Validate plain data into a :class:`SearchSpec`; every problem at once as a SpecError."""
    if not isinstance(data, dict):
        raise SpecError([Problem("", "a spec must be a mapping", value=data, source=source)])
    try:
        spec = SearchSpec.model_validate(data)
    except ValidationError as exc:
        # Report the cross-field problems too, checked on whatever part of the spec is valid.
        problems = problems_from_validation(exc, source, lines)
        failed: list[tuple[str | int, ...]] = []
        partial = _salvage(SearchSpec, data, (), failed)
        issues = check_spec(partial, failed=failed)
        raise SpecError(problems + _issue_problems(issues, source, lines)) from None
    problems = _issue_problems(check_spec(spec), source, lines)
    if problems:
        raise SpecError(problems)
    return spec


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
    data, lines = parse_text(text, source)
    return spec_from_data(data, source, lines)


def load_spec(path: str | Path) -> SearchSpec:
    """Read and validate a spec file (YAML or JSON); errors carry the file's line numbers."""
    data, lines = read_document(Path(path))
    return spec_from_data(data, str(path), lines)


# Semantic checks: (path, message, bad value) triples, all collected.
Issue = tuple[tuple[str | int, ...], str, Any]


def check_spec(
    spec: SearchSpec, failed: Sequence[tuple[str | int, ...]] | None = None
) -> list[Issue]:
    """Every cross-field problem of ``spec``.

    With ``failed`` (paths of fields that did not validate), ``spec`` is a partial one from
    :func:`_salvage`: issues at or around a failed field are dropped (they would judge a default
    the user never wrote), and a check that trips over a missing value is skipped rather than
    crash (best effort: the format errors are reported anyway).
    """
    issues: list[Issue] = []
    for check in _CHECKS:
        try:
            issues += check(spec)
        except (AttributeError, TypeError, KeyError, ValueError):
            if failed is None:
                raise
    if failed:
        issues = [issue for issue in issues if not any(_related(issue[0], p) for p in failed)]
    return issues


def _related(a: tuple[str | int, ...], b: tuple[str | int, ...]) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _named_layers(spec: SearchSpec) -> Iterator[tuple[int, Any]]:
    """(index, layer) for every layer with a valid name (all of them in a valid spec)."""
    for i, layer in enumerate(getattr(spec, "layers", None) or []):
        if layer is not None and isinstance(getattr(layer, "name", None), str):
            yield i, layer


def _check_layers(spec: SearchSpec) -> Iterator[Issue]:
    seen: set[str] = set()
    for i, layer in _named_layers(spec):
        if layer.name in seen or layer.name == "readout":
            yield (("layers", i, "name"), "duplicate or reserved layer name", layer.name)
        seen.add(layer.name)
        if isinstance(layer.cell, str) and layer.cell not in spec.cells:
            known = ", ".join(spec.cells) or "none defined"
            yield (("layers", i, "cell"), f"unknown cell (cells: {known})", layer.cell)
        yield from _check_residual(layer, ("layers", i))
    if all(getattr(layer, "optional", False) for _, layer in _named_layers(spec)):
        yield (("layers",), "at least one layer must not be optional", len(spec.layers))


def _can_be(value: Any, predicate: Callable[[Any], bool]) -> bool:
    values = finite_values(domain_of(value))
    if values is None:
        return True
    return any(predicate(v) for v in values)


def _check_residual(layer: Any, path: tuple[str | int, ...]) -> Iterator[Issue]:
    # A residual add needs matching sizes: residual=true is only legal with stride 1 or a post
    # conv. When residual is searched, sampling turns it off where illegal; when fixed true it
    # must be legal in every sample.
    strided = _can_be(layer.stride, lambda s: s != 1)
    if layer.residual is True and strided and _can_be(layer.post_kernel, lambda k: k == 0):
        yield ((*path, "residual"), "residual needs stride 1 or post_kernel > 0", True)


def _cell_spaces(spec: SearchSpec) -> Iterator[tuple[tuple[str | int, ...], Any, bool]]:
    """(path, cell space, is_named) for every cell space written in the spec."""
    for name, cell in spec.cells.items():
        if cell is not None:
            yield ("cells", name), cell, True
    for i, layer in _named_layers(spec):
        if getattr(layer, "cell", None) is not None and not isinstance(layer.cell, str):
            yield ("layers", i, "cell"), layer.cell, False


def _check_cells(spec: SearchSpec) -> Iterator[Issue]:
    for path, cell, named in _cell_spaces(spec):
        if cell.share is not None and not named:
            yield ((*path, "share"), "share is only allowed on a named cell in 'cells'", cell.share)
        branches = cell.one_of if isinstance(cell, CellOneOf) else [cell]
        names: set[str] = set()
        for j, branch in enumerate(branches):
            bpath = (*path, "one_of", j) if isinstance(cell, CellOneOf) else path
            if branch.share is not None and isinstance(cell, CellOneOf):
                yield ((*bpath, "share"), "share belongs on the named cell, not a branch", True)
            if branch_name(branch) in names:
                yield (
                    bpath,
                    "two alternatives with one name: give them distinct 'branch' names",
                    branch_name(branch),
                )
            names.add(branch_name(branch))
            if branch.kind == "rgc":
                yield from _check_rgc(branch, bpath)


def _check_rgc(cell: Any, path: tuple[str | int, ...]) -> Iterator[Issue]:
    # An rgc with memory needs a memory drive. Sampling forces one drive on when the other is
    # off (see space.sampling); only both fixed off while memory is possible is an error.
    memory = _can_be(cell.cell_depth, lambda d: d > 0) and _can_be(
        cell.gate_filter_size, lambda g: g > 0
    )
    if memory and cell.input_to_cell is False and cell.cell_residual is False:
        yield (
            (*path, "input_to_cell"),
            "an rgc with memory (cell_depth and gate_filter_size > 0) needs input_to_cell or "
            "cell_residual",
            False,
        )


def _check_feedback(spec: SearchSpec) -> Iterator[Issue]:
    fb = spec.feedback
    names = {layer.name for _, layer in _named_layers(spec)}
    for j, layer_name in enumerate(fb.among or []):
        if layer_name not in names:
            yield (("feedback", "among", j), "unknown layer", layer_name)
    if isinstance(fb.candidates, str):
        return
    pairs: set[tuple[str, str]] = set()
    for i, edge in enumerate(fb.candidates):
        path: tuple[str | int, ...] = ("feedback", "candidates", i)
        label = f"edge {edge.source}->{edge.target}"
        for end in ("source", "target"):
            if getattr(edge, end) not in names:
                yield ((*path, end), f"unknown layer in {label}", getattr(edge, end))
        if edge.source == edge.target:
            yield (path, f"{label} goes from a layer to itself", edge.source)
        if (edge.source, edge.target) in pairs:
            yield (path, f"duplicate candidate {label}", f"{edge.source}->{edge.target}")
        pairs.add((edge.source, edge.target))


def _numbers(value: Any) -> tuple[float, float] | None:
    """(min, max) over the numeric values a leaf can take (None values ignored)."""
    domain = domain_of(value)
    values = finite_values(domain)
    if values is None:
        return domain_bounds(domain)
    numbers = [v for v in values if v is not None]
    return (min(numbers), max(numbers)) if numbers else None


def deepest_readout_latency(spec: SearchSpec) -> int:
    """An upper bound on the step at which any sampled arch's readout first sees the image.

    Biological unroll: every edge costs one step, so along the feedforward chain the readout of
    an arch with ``L`` layers first sees the image at step ``L``; the deepest configuration has
    every optional layer present. Feedback edges and forward skips can only add paths, so they
    never make it later: ignoring them makes the bound conservative (a spec whose steps pass
    this check never yields an arch that fails ``space.graph``'s latency check). With a
    feedforward unroll every layer sees the image at step 0.
    """
    unrolls = finite_values(domain_of(spec.time.unroll)) or ("biological",)
    if "biological" not in unrolls:
        return 0
    return sum(1 for _ in _named_layers(spec))


def _check_latency(spec: SearchSpec) -> Iterator[Issue]:
    steps = _numbers(spec.time.steps)
    if steps is None:
        return
    min_steps = int(steps[0])
    latency = deepest_readout_latency(spec)
    if min_steps <= latency:
        yield (
            ("time", "steps"),
            f"the deepest architecture's readout first sees the image at step {latency} (every "
            f"edge costs one step; {latency} layers with every optional one present), so "
            f"{min_steps} steps never show it the image: use at least {latency + 1}",
            spec.time.steps if isinstance(spec.time.steps, int) else min_steps,
        )
    image_off = _numbers(spec.time.image_off)
    if image_off is not None and image_off[1] > min_steps:
        yield (
            ("time", "image_off"),
            f"may exceed time.steps (min {min_steps}): the image must fit within the unroll",
            image_off[1],
        )


def _check_time(spec: SearchSpec) -> Iterator[Issue]:
    # The mean window must fit every sampled step count, so check against the smallest.
    steps = _numbers(spec.time.steps)
    if steps is None:
        return
    min_steps = steps[0]
    readout = spec.time.readout
    one_of = isinstance(readout, ReadoutOneOf)
    for j, branch in enumerate(readout.one_of if one_of else [readout]):
        if branch.kind != "mean":
            continue
        path: tuple[str | int, ...] = ("time", "readout", *(("one_of", j) if one_of else ()))
        start = _numbers(branch.start) or (0, 0)
        end = _numbers(branch.end)
        if start[1] >= min_steps:
            yield ((*path, "start"), f"may reach time.steps (min {min_steps})", start[1])
        if end is not None and end[1] > min_steps:
            yield ((*path, "end"), f"may exceed time.steps (min {min_steps})", end[1])
        if end is not None and start[1] >= end[0]:
            yield ((*path, "end"), f"must be above start (max start {start[1]})", end[0])


def _check_objectives(spec: SearchSpec) -> Iterator[Issue]:
    seen: set[str] = set()
    for i, objective in enumerate(spec.objectives):
        if objective.metric in seen:
            yield (("objectives", i, "metric"), "duplicate objective", objective.metric)
        seen.add(objective.metric)
    if len(spec.objectives) > 1 and spec.search.scheduler == "asha":
        yield (
            ("search", "scheduler"),
            "asha stops trials on one metric: use fifo with several objectives",
            "asha",
        )


_CHECKS: tuple[Callable[[SearchSpec], Iterator[Issue]], ...] = (
    _check_layers,
    _check_cells,
    _check_feedback,
    _check_latency,
    _check_time,
    _check_objectives,
)


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of the spec format (``convnas space schema``)."""
    schema = SearchSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "convnas search spec"
    return schema

"""The one walk over a search spec: every searched parameter with its label, domain and the
condition under which it is sampled, in the order :func:`space.sampling.freeze` asks for them.

:class:`SpaceWalk` visits the spec define-by-run and calls :meth:`SpaceWalk.param` for each
searched leaf it reaches; fixed values (and one-value choices) never reach it. A subclass answers
with a value (the sampler: :mod:`space.sampling`) or with :data:`UNKNOWN` (the lister:
:mod:`space.describe`). The walk follows a value where it is known, and where it is UNKNOWN
explores every alternative under its condition: every ``one_of`` branch, every optional layer,
every feedback edge. So sampling and listing share one order, one set of labels and one set of
repairs.

Labels::

    input.size                          layers.conv3.present       (optional layers)
    layers.conv2.channels               layers.conv2.cell.filter_size   (inline / per-layer cell)
    cells.main.kind                     cells.main.rgc.cell_depth  (shared cell, one_of branch)
    layers.conv2.cell.kind              layers.conv2.cell.rgc.tau_filter_size (per_layer one_of)
    feedback.edges                      (how many searched edges are on)
    feedback.conv3->conv2.priority      (which: the highest priorities are on)
    feedback.entry                      (shared settings)  feedback.conv3->conv2.entry (per edge)
    head.kind   time.steps   time.readout.kind   time.readout.mean.start
    resize.align_corners   init.scheme   crop_depthwise   training.lr

Order: input, the presence of optional layers, each present layer (its fields in ``LayerArch``
order, the cell at ``cell``: a shared cell where its first present user is), the feedback edge
count, the candidates' priorities in candidate order, the settings of the edges on in candidate
order (shared settings at the first edge on), head, time (the readout at ``readout``), resize,
init, crop_depthwise, training.
The edge encoding and its distribution are documented on
:class:`space.spec.nodes.FeedbackSpace`.

Repairs that keep every sample a valid arch (:func:`forced_value`, :func:`repair_condition`):

* rgc with memory (``cell_depth > 0`` and ``gate_filter_size > 0``) needs a memory drive: when
  ``input_to_cell`` came out false, ``cell_residual`` is not sampled but set true; when
  ``cell_residual`` is fixed false, ``input_to_cell`` is not sampled but set true.
* a layer with ``stride != 1`` and no post conv cannot add a residual: ``residual`` is then not
  sampled but set false.
* feedback: once ``max_edges`` edges are on, later candidates are off (not sampled); edges
  touching an absent layer drop out; an edge whose entry came out ``cell`` while its target has
  no rgc memory is re-routed to ``out``.

Counting (:mod:`space.describe`) folds the same structure over all outcomes at once, so it uses
the pieces below (:func:`alternatives`, :func:`cell_use`, :func:`edge_setting_value`,
:func:`forced_value`) rather than the walk's order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel

from space import arch as A
from space.cells.base import NOT_FORCED, known
from space.cells.base import UNKNOWN as UNKNOWN  # the walk's public sentinel, defined apart
from space.params import (
    Boolean,
    Categorical,
    Domain,
    Fixed,
    FloatRange,
    IntRange,
    SearchDomain,
    Tied,
    TieLeaf,
    domain_of,
    finite_values,
    holds_integers,
)
from space.spec import (
    EDGE_SETTINGS,
    CellKindSpace,
    CellOneOf,
    EdgeSpace,
    LayerSpace,
    ReadoutKindSpace,
    ReadoutOneOf,
    SearchSpec,
    branch_name,
)

Values = dict[str, Any]


def maybe(value: Any) -> bool:
    """True when a walk must go on past ``value``: it is true, or not known."""
    return value is UNKNOWN or bool(value)


def both(*parts: str | None) -> str | None:
    """Conditions joined with ``and`` (None: always)."""
    kept = [p for p in parts if p]
    return " and ".join(kept) if kept else None


def edge_label(source: str, target: str) -> str:
    return f"feedback.{source}->{target}"


# --------------------------------------------------------------------------------------------
# Repairs
# --------------------------------------------------------------------------------------------


def _cell_memory(cell: Mapping[str, Any]) -> bool:
    """Whether a sampled cell has a memory (that feedback of entry ``cell`` can enter)."""
    return A.CELL_MODELS[cell["kind"]].memory_in(cell)


def forced_value(
    frozen: type[BaseModel], field: str, done: Mapping[str, Any], node: BaseModel
) -> Any:
    """The value a field is set to without sampling, given the fields sampled before it (in
    model order), or ``NOT_FORCED`` (also when a value it depends on is UNKNOWN). A cell
    family states its own repairs (``CellModel.forced_value``)."""
    if issubclass(frozen, A.CellModel):
        return frozen.forced_value(field, done, node)
    residual = (
        frozen is A.LayerArch and field == "residual" and known(done, "stride", "post_kernel")
    )
    if residual and done["stride"] != 1 and done["post_kernel"] == 0:
        return False
    return NOT_FORCED


def is_forced(value: Any) -> bool:
    return value is not NOT_FORCED


def repair_condition(frozen: type[BaseModel], name: str, prefix: str) -> str | None:
    """The condition a repair puts on sampling a field (see :func:`forced_value`)."""
    if issubclass(frozen, A.CellModel):
        return frozen.repair_condition(name, prefix)
    if frozen is A.LayerArch and name == "residual":
        return f"not ({prefix}.stride != 1 and no post conv: then false)"
    return None


# --------------------------------------------------------------------------------------------
# Ties
# --------------------------------------------------------------------------------------------


def tie_order(node: BaseModel, names: list[str]) -> list[str]:
    """``names`` with each tied field moved just after its target when the target comes later
    (searched fields keep their order; ties cannot chain, so one pass suffices)."""
    position = {name: i for i, name in enumerate(names)}
    waiting: dict[str, list[str]] = {}
    out: list[str] = []
    for name in names:
        value = getattr(node, name, None)
        target = value.target if isinstance(value, TieLeaf) else None
        if target is not None and position.get(target, -1) > position[name]:
            waiting.setdefault(target, []).append(name)
            continue
        out.append(name)
        out.extend(waiting.pop(name, []))
    return out


def tied_value(tie: TieLeaf, target: Any, frozen: type[BaseModel], name: str) -> Any:
    """The value of a tied field whose target came out ``target`` (UNKNOWN stays UNKNOWN)."""
    if target is UNKNOWN:
        return UNKNOWN
    return tie.domain().apply(target, holds_integers(frozen.model_fields[name].annotation))


# --------------------------------------------------------------------------------------------
# The structure: alternatives, cell uses, edge settings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Branch:
    """One alternative of a cell or readout space: its label part, its node and frozen model."""

    name: str
    node: CellKindSpace | ReadoutKindSpace
    frozen: type[A.Frozen]


def alternatives(
    space: CellKindSpace | CellOneOf | ReadoutKindSpace | ReadoutOneOf,
) -> list[Branch]:
    """The branches of a ``one_of`` (by branch name), or the space itself as the one branch."""
    if isinstance(space, (CellOneOf, ReadoutOneOf)):
        return [Branch(branch_name(b), b, _frozen(b)) for b in space.one_of]
    return [Branch(space.kind, space, _frozen(space))]


def _frozen(node: CellKindSpace | ReadoutKindSpace) -> type[A.Frozen]:
    return A.CELL_MODELS.get(node.kind) or A.READOUT_MODELS[node.kind]


@dataclass(frozen=True)
class CellUse:
    """The cell space a layer uses: sampled under ``prefix``; ``shared`` names a shared cell
    (sampled once, for its first present user)."""

    space: CellKindSpace | CellOneOf
    prefix: str
    shared: str | None


def cell_use(spec: SearchSpec, layer: LayerSpace) -> CellUse | None:
    """None for a layer without a cell."""
    cell = layer.cell
    if cell is None:
        return None
    own = f"layers.{layer.name}.cell"
    if not isinstance(cell, str):
        return CellUse(cell, own, None)
    named = spec.cells[cell]
    if named.share == "per_layer":
        return CellUse(named, own, None)
    return CellUse(named, f"cells.{cell}", cell)


def shared_condition(spec: SearchSpec, name: str) -> str | None:
    """A shared cell is sampled when any layer using it is present."""
    users = [layer for layer in spec.layers if layer.cell == name]
    if any(not layer.optional for layer in users):
        return None
    return " or ".join(f"layers.{layer.name}.present" for layer in users)


def edge_setting_value(spec: SearchSpec, cand: EdgeSpace, name: str) -> tuple[Any, bool]:
    """The spec value of an edge setting and whether it is the shared one (sampled once for all
    edges, label ``feedback.NAME``) rather than the edge's own (``feedback.S->T.NAME``)."""
    own = getattr(cand, name)
    if own is not None:
        return own, False
    return getattr(spec.feedback, name), spec.feedback.share == "shared"


def present_condition(spec: SearchSpec, *names: str) -> str | None:
    ends = [spec.layer(name) for name in names]
    return both(*(f"layers.{layer.name}.present" for layer in ends if layer.optional))


def any_condition(conditions: Iterable[str | None]) -> str | None:
    """Conditions joined with ``or`` (None: always, as soon as one of them is None)."""
    kept: list[str] = []
    for condition in conditions:
        if condition is None:
            return None
        if condition not in kept:
            kept.append(condition)
    return " or ".join(kept) if kept else None


# --------------------------------------------------------------------------------------------
# Feedback edges: how many are on, and which
# --------------------------------------------------------------------------------------------

EDGE_COUNT_LABEL: Final = "feedback.edges"
PRIORITY: Final = FloatRange(0.0, 1.0)
"""The domain of a searched candidate's priority (``feedback.S->T.priority``)."""


def priority_label(cand: EdgeSpace) -> str:
    return f"{edge_label(cand.source, cand.target)}.priority"


@dataclass(frozen=True)
class EdgePlan:
    """The candidates of a spec split by their ``enabled``: ``forced`` (fixed on) and ``free``
    (searched), in candidate order, and ``count``: the domain of ``feedback.edges``, the number
    of free candidates on (``min_edges..max_edges`` less the forced edges, within
    ``0..len(free)``; a one-value domain is fixed)."""

    order: dict[tuple[str, str], int]
    forced: list[EdgeSpace]
    free: list[EdgeSpace]
    count: Domain
    max_edges: int | None

    def present(self, layers: Container[str]) -> tuple[list[EdgeSpace], list[EdgeSpace], int]:
        """(forced, free, room) among the candidates whose two layers are present: the forced
        edges (the first ``max_edges`` of them) and how many free ones may still be on."""
        forced = [c for c in self.forced if c.source in layers and c.target in layers]
        free = [c for c in self.free if c.source in layers and c.target in layers]
        if self.max_edges is None:
            return forced, free, len(free)
        forced = forced[: self.max_edges]
        return forced, free, max(0, min(len(free), self.max_edges - len(forced)))

    def in_order(self, edges: Iterable[EdgeSpace]) -> list[EdgeSpace]:
        return sorted(edges, key=lambda c: self.order[(c.source, c.target)])


def edge_plan(spec: SearchSpec) -> EdgePlan:
    fb = spec.feedback
    candidates = spec.edge_candidates()
    forced: list[EdgeSpace] = []
    free: list[EdgeSpace] = []
    for cand in candidates:
        enabled = finite_values(domain_of(cand.enabled)) or (False, True)
        if len(set(enabled)) > 1:
            free.append(cand)
        elif True in enabled:
            forced.append(cand)
    high = len(free)
    if fb.max_edges is not None:
        high = max(0, min(high, fb.max_edges - len(forced)))
    low = min(high, max(0, fb.min_edges - len(forced)))
    count: Domain = IntRange(low, high) if low < high else Fixed(high)
    order = {(c.source, c.target): i for i, c in enumerate(candidates)}
    return EdgePlan(order, forced, free, count, fb.max_edges)


def top_priorities(free: list[EdgeSpace], priorities: list[Any], count: int) -> list[EdgeSpace]:
    """The ``count`` candidates of highest priority (ties: the earlier candidate), in order."""
    ranked = sorted(range(len(free)), key=lambda i: (-priorities[i], i))
    keep = set(ranked[:count])
    return [c for i, c in enumerate(free) if i in keep]


# --------------------------------------------------------------------------------------------
# The walk
# --------------------------------------------------------------------------------------------


class SpaceWalk:
    """Walks ``spec`` in sampling order; subclasses answer :meth:`param`."""

    def __init__(self, spec: SearchSpec):
        self.spec = spec
        self.shared_cells: dict[str, Values] = {}
        self.shared_edge: Values = {}

    def param(self, label: str, domain: SearchDomain, condition: str | None) -> Any:
        """The value of a searched parameter, or UNKNOWN."""
        raise NotImplementedError

    def value(self, label: str, domain: Domain, condition: str | None) -> Any:
        if isinstance(domain, Fixed):
            return domain.value
        if isinstance(domain, Tied):  # fields() resolves ties; validation allows no others
            raise AssertionError(f"{label}: a tie outside a node's fields")
        values = finite_values(domain)
        if values is not None and len(values) == 1:
            return values[0]  # a one-value choice is fixed: never bother the sampler
        return self.param(label, domain, condition)

    def draw(self, label: str, spec_value: Any, condition: str | None) -> Any:
        return self.value(label, domain_of(spec_value), condition)

    def tied(self, label: str, tie: TieLeaf, condition: str | None) -> None:
        """Called for every tied field the walk sets (listings record them)."""

    def fields(
        self,
        node: BaseModel,
        frozen: type[BaseModel],
        prefix: str,
        condition: str | None,
        special: Mapping[str, Callable[[], Any]] | None = None,
    ) -> Values:
        """Every field of ``frozen`` from ``node``: sampled, fixed, forced, tied or
        ``special`` (a repair wins over a tie: it keeps the arch valid)."""
        special = special or {}
        out: Values = {}
        for name in tie_order(node, list(frozen.model_fields)):
            if name in special:
                out[name] = special[name]()
                continue
            forced = forced_value(frozen, name, out, node)
            if is_forced(forced):
                out[name] = forced
                continue
            spec_value = getattr(node, name)
            if isinstance(spec_value, TieLeaf):
                out[name] = tied_value(spec_value, out[spec_value.target], frozen, name)
                self.tied(f"{prefix}.{name}", spec_value, condition)
                continue
            when = both(condition, repair_condition(frozen, name, prefix))
            out[name] = self.draw(f"{prefix}.{name}", getattr(node, name), when)
        return out

    def choose(
        self,
        space: CellKindSpace | CellOneOf | ReadoutKindSpace | ReadoutOneOf,
        prefix: str,
        condition: str | None,
    ) -> Values:
        """A space with alternatives: its kind is searched, then the chosen branch's fields."""
        branches = alternatives(space)
        if not isinstance(space, (CellOneOf, ReadoutOneOf)):
            return self.fields(space, branches[0].frozen, prefix, condition)
        names = tuple(b.name for b in branches)
        chosen = self.value(f"{prefix}.kind", Categorical(names), condition)
        out: Values = {}
        for branch in branches:
            if chosen is UNKNOWN or chosen == branch.name:
                when = (
                    both(condition, f"{prefix}.kind == {branch.name}")
                    if len(names) > 1
                    else condition
                )
                out = self.fields(branch.node, branch.frozen, f"{prefix}.{branch.name}", when)
        return out

    def layer_cell(self, layer: LayerSpace, condition: str | None) -> Values:
        use = cell_use(self.spec, layer)
        if use is None:
            return {"kind": "none"}
        if use.shared is None:
            return self.choose(use.space, use.prefix, condition)
        if use.shared not in self.shared_cells:  # sampled on first use by a present layer
            when = shared_condition(self.spec, use.shared)
            self.shared_cells[use.shared] = self.choose(use.space, use.prefix, when)
        return self.shared_cells[use.shared]

    def layers(self) -> list[Values]:
        present = [
            layer
            for layer in self.spec.layers
            if not layer.optional
            or maybe(self.value(f"layers.{layer.name}.present", Boolean(), None))
        ]
        out = []
        for layer in present:
            when = f"layers.{layer.name}.present" if layer.optional else None
            cell = functools.partial(self.layer_cell, layer, when)
            out.append(
                self.fields(layer, A.LayerArch, f"layers.{layer.name}", when, {"cell": cell})
            )
        return out

    def feedback(self, layers: list[Values]) -> list[Values]:
        present = {layer["name"]: layer for layer in layers}
        plan = edge_plan(self.spec)
        forced, free, room = plan.present(present)
        chosen = forced + self.chosen_edges(plan, free, room)
        edges: list[Values] = []
        for cand in plan.in_order(chosen):
            label = edge_label(cand.source, cand.target)
            settings = {name: self.edge_setting(cand, name, label) for name in EDGE_SETTINGS}
            if settings["entry"] == "cell" and not _cell_memory(present[cand.target]["cell"]):
                settings["entry"] = "out"  # re-route: 'cell' needs a cell memory (an rgc's)
            edges.append({"source": cand.source, "target": cand.target, **settings})
        return edges

    def chosen_edges(self, plan: EdgePlan, free: list[EdgeSpace], room: int) -> list[EdgeSpace]:
        """The searched candidates that are on: ``feedback.edges`` says how many, the
        candidates' priorities which (every free candidate when the count is not known)."""
        if not free:
            return []
        when = any_condition(present_condition(self.spec, c.source, c.target) for c in free)
        count = self.value(EDGE_COUNT_LABEL, plan.count, when)
        counts = finite_values(plan.count) or () if count is UNKNOWN else (count,)
        wanted = {min(k, room) for k in counts}
        if not any(0 < k < len(free) for k in wanted):  # none, or all: no priorities needed
            return free if count is UNKNOWN or max(wanted) > 0 else []
        between = f"0 < {EDGE_COUNT_LABEL} < {len(free)}"
        priorities = [
            self.value(
                priority_label(c),
                PRIORITY,
                both(present_condition(self.spec, c.source, c.target), between),
            )
            for c in free
        ]
        if count is UNKNOWN or UNKNOWN in priorities:
            return free  # listing: every candidate may be on
        return top_priorities(free, priorities, min(count, room))

    def edge_setting(self, cand: EdgeSpace, name: str, label: str) -> Any:
        value, shared = edge_setting_value(self.spec, cand, name)
        if not shared:
            return self.draw(f"{label}.{name}", value, f"{label} on")
        if name not in self.shared_edge:
            self.shared_edge[name] = self.draw(f"feedback.{name}", value, "any feedback edge on")
        return self.shared_edge[name]

    def readout(self) -> Values:
        return self.choose(self.spec.time.readout, "time.readout", None)

    def arch_data(self) -> Values:
        """The walk: the data of an :class:`~space.arch.Arch` (UNKNOWN where not sampled)."""
        spec = self.spec
        data: Values = {"input": self.fields(spec.input, A.InputShape, "input", None)}
        data["classes"] = spec.classes
        data["layers"] = self.layers()
        data["feedback"] = self.feedback(data["layers"])
        data["head"] = self.fields(spec.head, A.Head, "head", None)
        readout = {"readout": self.readout}
        data["time"] = self.fields(spec.time, A.TimeArch, "time", None, readout)
        data["resize"] = self.fields(spec.resize, A.Resize, "resize", None)
        data["init"] = self.fields(spec.init, A.Init, "init", None)
        data["crop_depthwise"] = self.draw("crop_depthwise", spec.crop_depthwise, None)
        data["training"] = self.fields(spec.training, A.Training, "training", None)
        data["meta"] = {"space": spec.name}
        return data

"""What a search spec searches: every searched parameter with its label, domain and the condition
under which it is sampled, and how many distinct architectures the space holds.

The list comes from the walk that sampling uses (:class:`space.walk.SpaceWalk`: same labels, same
order). The count is the number of distinct outcomes of that walk over the architecture (training
excluded, reported apart): sums over ``one_of`` branches and optional layers, products
elsewhere, the sampling repairs taken into account. Continuous parameters make it infinite; the
discrete part is then still given. It is exact except where noted (entry re-routing, many
optional layers).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from space import arch as A
from space.params import Domain, SearchDomain, Tied, TieLeaf, domain_of, finite_values
from space.spec import (
    EDGE_SETTINGS,
    CellKindSpace,
    CellOneOf,
    EdgeSpace,
    LayerSpace,
    ReadoutKindSpace,
    ReadoutOneOf,
    SearchSpec,
)
from space.walk import (
    UNKNOWN,
    SpaceWalk,
    alternatives,
    cell_use,
    edge_plan,
    edge_setting_value,
    forced_value,
    is_forced,
)

MAX_OPTIONAL_EXACT = 14  # 2**14 presence patterns are still cheap to enumerate
MAX_JOINT = 200_000  # largest joint domain enumerated to count repaired field groups


@dataclass(frozen=True)
class ParamInfo:
    label: str
    domain: str
    condition: str | None
    size: int | None  # None: continuous

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "domain": self.domain,
            "condition": self.condition,
            "size": self.size,
        }


@dataclass
class Count:
    """A count of outcomes: the discrete combinations, and whether a continuous leaf is in play."""

    discrete: int = 1
    continuous: bool = False

    def __mul__(self, other: Count) -> Count:
        return Count(self.discrete * other.discrete, self.continuous or other.continuous)

    def __add__(self, other: Count) -> Count:
        return Count(self.discrete + other.discrete, self.continuous or other.continuous)


def _count(domain: Domain) -> Count:
    size = domain.size()
    return Count(1, True) if size is None else Count(size)


@dataclass(frozen=True)
class TieInfo:
    """A tied field: set from its target, never sampled (``{tie: FIELD, scale, offset}``)."""

    label: str
    rule: str  # "tied to FIELD x S + O"
    condition: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "rule": self.rule, "condition": self.condition}


@dataclass
class SpaceDescription:
    name: str
    params: list[ParamInfo]
    architectures: Count
    training: Count
    exact: bool
    notes: list[str] = field(default_factory=list)
    ties: list[TieInfo] = field(default_factory=list)

    @property
    def arch_count(self) -> int | None:
        """Distinct architectures, or None when a continuous parameter makes them infinite."""
        return None if self.architectures.continuous else self.architectures.discrete

    def count_text(self) -> str:
        count = self.architectures
        if count.continuous:
            return f"infinite (continuous parameters; {_big(count.discrete)} discrete combinations)"
        approx = "" if self.exact else "about "
        return f"{approx}{_big(count.discrete)}"

    def summary(self) -> str:
        searched = len(self.params)
        return (
            f"space {self.name!r}: {searched} searched parameter{'s' if searched != 1 else ''}, "
            f"architectures: {self.count_text()}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": [p.to_dict() for p in self.params],
            "ties": [t.to_dict() for t in self.ties],
            "architectures": self.arch_count,
            "architectures_discrete": self.architectures.discrete,
            "architectures_continuous": self.architectures.continuous,
            "training_configs": None if self.training.continuous else self.training.discrete,
            "exact": self.exact,
            "estimate": not self.exact,
            "notes": self.notes,
        }


def _big(n: int) -> str:
    return str(n) if n < 10**9 else f"{n:.3e}".replace("e+", "e")


# --------------------------------------------------------------------------------------------
# Listing the parameters
# --------------------------------------------------------------------------------------------


class _Lister(SpaceWalk):
    """The sampling walk with every searched parameter (and tie) recorded instead of answered."""

    def __init__(self, spec: SearchSpec):
        super().__init__(spec)
        self.params: list[ParamInfo] = []
        self.ties: list[TieInfo] = []
        self.domains: dict[str, SearchDomain] = {}

    def param(self, label: str, domain: SearchDomain, condition: str | None) -> Any:
        self.params.append(ParamInfo(label, domain.describe(), condition, domain.size()))
        self.domains.setdefault(label, domain)
        return UNKNOWN

    def tied(self, label: str, tie: TieLeaf, condition: str | None) -> None:
        if all(t.label != label for t in self.ties):  # a shared cell is walked once per user
            self.ties.append(TieInfo(label, tie.domain().describe(), condition))

    def run(self) -> tuple[list[ParamInfo], list[TieInfo]]:
        self.arch_data()
        return self.params, self.ties


# --------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------

# Fields whose sampling depends on each other (see space.walk.forced_value): counted jointly.
# A cell family states its own (``CellModel.coupled_fields``).
_COUPLED: dict[type[BaseModel], tuple[str, ...]] = {
    A.LayerArch: ("stride", "post_kernel", "residual"),
}


def _coupled(frozen: type[BaseModel]) -> tuple[str, ...]:
    if issubclass(frozen, A.CellModel):
        return frozen.coupled_fields
    return _COUPLED.get(frozen, ())


class _Counter:
    def __init__(self, spec: SearchSpec):
        self.spec = spec
        self.exact = True
        self.notes: list[str] = []

    def fields(self, node: BaseModel, frozen: type[BaseModel], skip: Sequence[str] = ()) -> Count:
        if issubclass(frozen, A.CellModel):
            for note in frozen.count_notes(node):
                self._note(note)
        coupled = _coupled(frozen)
        total = Count()
        for name in frozen.model_fields:
            if name in skip or name in coupled or not hasattr(node, name):
                continue
            total = total * _count(domain_of(getattr(node, name)))
        return total * self.joint(node, frozen, coupled) if coupled else total

    def joint(self, node: BaseModel, frozen: type[BaseModel], names: Sequence[str]) -> Count:
        """Distinct outcomes of a group of coupled fields, by enumerating their domains."""
        domains = {name: finite_values(domain_of(getattr(node, name))) for name in names}
        for name in names:
            if isinstance(domain_of(getattr(node, name)), Tied):
                # its value follows another field's: one value here, an upper bound overall
                domains[name] = (True,)
                self._note("a tie inside a group of dependent rgc/layer fields: upper bound")
        sizes = [len(v) if v is not None else 0 for v in domains.values()]
        if 0 in sizes or math.prod(sizes) > MAX_JOINT:
            self.exact = False
            return Count(math.prod(s or 1 for s in sizes), 0 in sizes)
        outcomes: set[tuple[Any, ...]] = set()
        for combo in itertools.product(*(v or () for v in domains.values())):
            done: dict[str, Any] = {}
            for name, value in zip(names, combo, strict=True):
                forced = forced_value(frozen, name, done, node)
                done[name] = forced if is_forced(forced) else value
            outcomes.add(tuple(done.values()))
        return Count(len(outcomes))

    def alternatives(
        self, space: CellKindSpace | CellOneOf | ReadoutKindSpace | ReadoutOneOf
    ) -> Count:
        total = Count(0)
        for branch in alternatives(space):
            total = total + self.fields(branch.node, branch.frozen, ("kind",))
        return total

    def layers(self, present: Sequence[LayerSpace]) -> Count:
        total = Count()
        shared: set[str] = set()
        for layer in present:
            total = total * self.fields(layer, A.LayerArch, ("cell",))
            use = cell_use(self.spec, layer)
            if use is None or (use.shared is not None and use.shared in shared):
                continue  # no cell, or a shared one already counted
            if use.shared is not None:
                shared.add(use.shared)
            total = total * self.alternatives(use.space)
        return total * self.feedback({layer.name for layer in present})

    def feedback(self, present: set[str]) -> Count:
        """Edge subsets and settings: a walk over the searched candidates with state (edges on,
        whether a shared setting is used), kept where the number on is a count the sampled
        ``feedback.edges`` can give (clipped to the candidates left, as sampling does)."""
        plan = edge_plan(self.spec)
        forced, free, room = plan.present(present)
        counts = {min(k, room) for k in finite_values(plan.count) or ()}
        shared = Count()
        for name in EDGE_SETTINGS:
            shared = shared * _count(domain_of(getattr(self.spec.feedback, name)))
        start, used = Count(), False
        for cand in forced:
            own, uses_shared = self.edge_settings(cand)
            start, used = start * own, used or uses_shared
        states: dict[tuple[int, bool], Count] = {(0, used): start}
        for cand in free:
            own, uses_shared = self.edge_settings(cand)
            nxt: dict[tuple[int, bool], Count] = {}
            for (on, used), count in states.items():
                off_key, on_key = (on, used), (on + 1, used or uses_shared)
                for key, value in ((off_key, count), (on_key, count * own)):
                    nxt[key] = nxt[key] + value if key in nxt else value
            states = nxt
        total = Count(0)
        for (on, used), count in states.items():
            if on in counts:
                total = total + (count * shared if used else count)
        return total

    def edge_settings(self, cand: EdgeSpace) -> tuple[Count, bool]:
        fb = self.spec.feedback
        own = Count()
        uses_shared = False
        for name in EDGE_SETTINGS:
            value, shared = edge_setting_value(self.spec, cand, name)
            if shared:
                uses_shared = True
                continue
            domain = domain_of(value)
            own = own * _count(domain)
            if name == "entry" and {"cell", "out"} <= set(finite_values(domain) or ()):
                self._reroute_note()
        if uses_shared and {"cell", "out"} <= set(finite_values(domain_of(fb.entry)) or ()):
            self._reroute_note()
        return own, uses_shared

    def _reroute_note(self) -> None:
        self._note(
            "entry 'cell' is re-routed to 'out' where the target has no rgc memory: upper bound"
        )

    def _note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)
            self.exact = False

    def architectures(self) -> Count:
        spec = self.spec
        optional = [layer for layer in spec.layers if layer.optional]
        if len(optional) > MAX_OPTIONAL_EXACT:
            self.exact = False
            self.notes.append(f"{len(optional)} optional layers: counted as independent")
            body = Count(2 ** len(optional)) * self.layers(spec.layers)
        else:
            body = Count(0)
            for pattern in itertools.product((False, True), repeat=len(optional)):
                absent = {layer.name for layer, on in zip(optional, pattern, strict=True) if not on}
                present = [layer for layer in spec.layers if layer.name not in absent]
                body = body + self.layers(present)
        rest = self.fields(spec.input, A.InputShape) * self.fields(spec.head, A.Head)
        readout = self.alternatives(spec.time.readout)
        rest = rest * self.fields(spec.time, A.TimeArch, ("readout",)) * readout
        rest = rest * self.fields(spec.resize, A.Resize) * self.fields(spec.init, A.Init)
        rest = rest * _count(domain_of(spec.crop_depthwise))
        return body * rest


def param_domains(spec: SearchSpec) -> dict[str, SearchDomain]:
    """Each searched parameter's label and domain, in sampling order (the labels a trial's
    sampled values are stored under)."""
    lister = _Lister(spec)
    lister.run()
    return lister.domains


def describe(spec: SearchSpec) -> SpaceDescription:
    """List the searched parameters of ``spec`` and count its distinct architectures."""
    counter = _Counter(spec)
    architectures = counter.architectures()
    training = counter.fields(spec.training, A.Training)
    params, ties = _Lister(spec).run()
    return SpaceDescription(
        name=spec.name,
        params=params,
        ties=ties,
        architectures=architectures,
        training=training,
        exact=counter.exact,
        notes=counter.notes,
    )

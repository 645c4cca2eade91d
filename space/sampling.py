"""Freezing a search spec into a concrete :class:`~space.arch.Arch`, define-by-run.

:func:`freeze` walks the spec in a fixed order and asks a :class:`Sampler` for every searched
leaf it reaches, by a stable dotted label; fixed values never reach the sampler and parameters of
an inactive branch are never asked for. A sampler is any callable ``(label, domain) -> value``
(domains from :mod:`space.params`), so an Optuna trial is a one-function adapter.

Labels::

    input.size                          layers.conv3.present       (optional layers)
    layers.conv2.channels               layers.conv2.cell.filter_size   (inline / per-layer cell)
    cells.main.kind                     cells.main.rgc.cell_depth  (shared cell, one_of branch)
    layers.conv2.cell.kind              layers.conv2.cell.rgc.tau_filter_size (per_layer one_of)
    feedback.conv3->conv2               (edge on/off)
    feedback.entry                      (shared settings)  feedback.conv3->conv2.entry (per edge)
    head.kind   time.steps   time.readout.kind   time.readout.mean.start   training.lr

Order: input, the presence of optional layers, each present layer (its fields in ``LayerArch``
order, the cell at ``cell``), feedback candidates in order, head, time, training.

Repairs that keep every sample a valid arch (each documented where it happens):

* rgc with memory (``cell_depth > 0`` and ``gate_filter_size > 0``) needs a memory drive: when
  ``input_to_cell`` came out false, ``cell_residual`` is not sampled but set true; when
  ``cell_residual`` is fixed false, ``input_to_cell`` is not sampled but set true.
* a layer with ``stride != 1`` and no post conv cannot add a residual: ``residual`` is then not
  sampled but set false.
* feedback: once ``max_edges`` edges are on, later candidates are off (not sampled); edges
  touching an absent layer drop out; an edge whose entry came out ``cell`` while its target has
  no rgc memory is re-routed to ``out``.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pydantic import BaseModel

from space import arch as A
from space.arch import Arch, arch_from_data
from space.errors import Problem, SpecError
from space.params import (
    Boolean,
    Categorical,
    Domain,
    Fixed,
    FloatRange,
    IntRange,
    SearchDomain,
    domain_of,
    finite_values,
)
from space.spec import CellOneOf, ReadoutOneOf, SearchSpec, branch_name

FROZEN_CELLS = A.CELL_MODELS
FROZEN_READOUTS = A.READOUT_MODELS
EDGE_SETTINGS = ("entry", "kernel", "depth_separable", "activation")


class Sampler(Protocol):
    """Answers one searched leaf: ``sampler("layers.conv2.channels", Categorical((16, 32)))``."""

    def __call__(self, label: str, domain: SearchDomain) -> Any: ...


class RandomSampler:
    """Seeded pure-Python sampler (uniform; log-uniform for log float ranges).

    ``params`` records every answer by label, in the order asked.
    """

    def __init__(self, seed: int | None = None):
        self.rng = random.Random(seed)
        self.params: dict[str, Any] = {}

    def __call__(self, label: str, domain: SearchDomain) -> Any:
        value = self._draw(domain)
        self.params[label] = value
        return value

    def _draw(self, domain: SearchDomain) -> Any:
        if isinstance(domain, Categorical):
            return self.rng.choice(domain.choices)
        if isinstance(domain, IntRange):
            return self.rng.randrange(domain.low, domain.high + 1, domain.step)
        if isinstance(domain, FloatRange):
            if domain.log:
                return math.exp(self.rng.uniform(math.log(domain.low), math.log(domain.high)))
            return self.rng.uniform(domain.low, domain.high)
        return self.rng.random() < 0.5


class ReplaySampler:
    """Answers from recorded ``params`` (label -> value), e.g. to rebuild a trial's arch.

    A label missing from ``params`` falls back to ``fallback`` when given, else is an error.
    """

    def __init__(self, params: Mapping[str, Any], fallback: Sampler | None = None):
        self.params = dict(params)
        self.fallback = fallback
        self.asked: list[str] = []

    def __call__(self, label: str, domain: SearchDomain) -> Any:
        self.asked.append(label)
        if label in self.params:
            return self.params[label]
        if self.fallback is not None:
            return self.fallback(label, domain)
        raise SpecError([Problem(label, "no recorded value for this parameter")])


# --------------------------------------------------------------------------------------------
# Repairs shared with space.describe (which counts what they collapse)
# --------------------------------------------------------------------------------------------

_NOT_FORCED: Any = object()


def rgc_has_memory(values: Mapping[str, Any]) -> bool:
    return bool(values.get("cell_depth", 0)) and bool(values.get("gate_filter_size", 0))


def forced_value(frozen: type[BaseModel], field: str, done: Mapping[str, Any], node: Any) -> Any:
    """The value a field is set to without sampling, given the fields sampled before it (in
    model order), or ``_NOT_FORCED``."""
    if frozen is A.RGCCell and rgc_has_memory(done):
        if field == "input_to_cell" and domain_of(node.cell_residual) == Fixed(False):
            return True
        if field == "cell_residual" and not done["input_to_cell"]:
            return True
    residual = frozen is A.LayerArch and field == "residual"
    if residual and done["stride"] != 1 and done["post_kernel"] == 0:
        return False
    return _NOT_FORCED


def is_forced(value: Any) -> bool:
    return value is not _NOT_FORCED


def edge_label(source: str, target: str) -> str:
    return f"feedback.{source}->{target}"


# --------------------------------------------------------------------------------------------
# The walk
# --------------------------------------------------------------------------------------------


class _Freezer:
    def __init__(self, spec: SearchSpec, sampler: Sampler):
        self.spec = spec
        self.sampler = sampler
        self.shared_cells: dict[str, dict[str, Any]] = {}
        self.shared_edge: dict[str, Any] = {}

    def draw(self, label: str, value: Any) -> Any:
        return self.ask(label, domain_of(value))

    def ask(self, label: str, domain: Domain) -> Any:
        if isinstance(domain, Fixed):
            return domain.value
        values = finite_values(domain)
        if values is not None and len(values) == 1:
            return values[0]  # a one-value choice is fixed: never bother the sampler
        return self.sampler(label, domain)

    def fields(
        self,
        node: Any,
        frozen: type[BaseModel],
        prefix: str,
        special: Mapping[str, Callable[[], Any]] | None = None,
    ) -> dict[str, Any]:
        """Every field of ``frozen`` from ``node``: sampled, fixed, forced or ``special``."""
        special = special or {}
        out: dict[str, Any] = {}
        for name in frozen.model_fields:
            if name in special:
                out[name] = special[name]()
                continue
            forced = forced_value(frozen, name, out, node)
            out[name] = (
                forced if is_forced(forced) else self.draw(f"{prefix}.{name}", getattr(node, name))
            )
        return out

    # cells ------------------------------------------------------------------------------------

    def cell(self, space: Any, prefix: str) -> dict[str, Any]:
        if isinstance(space, CellOneOf):
            names = [branch_name(b) for b in space.one_of]
            chosen = self.ask(f"{prefix}.kind", Categorical(tuple(names)))
            branch = space.one_of[names.index(chosen)]
            return self.fields(branch, FROZEN_CELLS[branch.kind], f"{prefix}.{chosen}")
        return self.fields(space, FROZEN_CELLS[space.kind], prefix)

    def layer_cell(self, layer: Any) -> dict[str, Any]:
        cell = layer.cell
        if cell is None:
            return {"kind": "none"}
        if not isinstance(cell, str):
            return self.cell(cell, f"layers.{layer.name}.cell")
        named = self.spec.cells[cell]
        if named.share == "per_layer":
            return self.cell(named, f"layers.{layer.name}.cell")
        if cell not in self.shared_cells:  # sampled on first use by a present layer
            self.shared_cells[cell] = self.cell(named, f"cells.{cell}")
        return self.shared_cells[cell]

    # layers, feedback, time -------------------------------------------------------------------

    def layers(self) -> list[dict[str, Any]]:
        present = [
            layer
            for layer in self.spec.layers
            if not layer.optional or self.ask(f"layers.{layer.name}.present", Boolean())
        ]
        return [
            self.fields(
                layer,
                A.LayerArch,
                f"layers.{layer.name}",
                special={"cell": functools.partial(self.layer_cell, layer)},
            )
            for layer in present
        ]

    def feedback(self, layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fb = self.spec.feedback
        present = {layer["name"]: layer for layer in layers}
        edges: list[dict[str, Any]] = []
        for cand in self.spec.edge_candidates():
            if cand.source not in present or cand.target not in present:
                continue  # an absent optional layer takes its edges with it
            if fb.max_edges is not None and len(edges) >= fb.max_edges:
                break  # the rest are off and never sampled
            label = edge_label(cand.source, cand.target)
            if not self.draw(label, cand.enabled):
                continue
            settings = {name: self.edge_setting(cand, name, label) for name in EDGE_SETTINGS}
            target_cell = present[cand.target]["cell"]
            if settings["entry"] == "cell" and not (
                target_cell["kind"] == "rgc" and rgc_has_memory(target_cell)
            ):
                settings["entry"] = "out"  # re-route: 'cell' needs an rgc memory
            edges.append({"source": cand.source, "target": cand.target, **settings})
        return edges

    def edge_setting(self, cand: Any, name: str, label: str) -> Any:
        own = getattr(cand, name)
        if own is not None:
            return self.draw(f"{label}.{name}", own)
        if self.spec.feedback.share == "per_edge":
            return self.draw(f"{label}.{name}", getattr(self.spec.feedback, name))
        if name not in self.shared_edge:
            self.shared_edge[name] = self.draw(
                f"feedback.{name}", getattr(self.spec.feedback, name)
            )
        return self.shared_edge[name]

    def readout(self) -> dict[str, Any]:
        space = self.spec.time.readout
        if isinstance(space, ReadoutOneOf):
            names = [branch_name(b) for b in space.one_of]
            chosen = self.ask("time.readout.kind", Categorical(tuple(names)))
            branch = space.one_of[names.index(chosen)]
            return self.fields(branch, FROZEN_READOUTS[branch.kind], f"time.readout.{chosen}")
        return self.fields(space, FROZEN_READOUTS[space.kind], "time.readout")

    def arch_data(self) -> dict[str, Any]:
        spec = self.spec
        data: dict[str, Any] = {"input": self.fields(spec.input, A.InputShape, "input")}
        data["classes"] = spec.classes
        data["layers"] = self.layers()
        data["feedback"] = self.feedback(data["layers"])
        data["head"] = self.fields(spec.head, A.Head, "head")
        data["time"] = self.fields(spec.time, A.TimeArch, "time", special={"readout": self.readout})
        data["training"] = self.fields(spec.training, A.Training, "training")
        data["meta"] = {"space": spec.name}
        return data


def freeze(spec: SearchSpec, sampler: Sampler) -> Arch:
    """Sample ``spec`` through ``sampler`` into a valid, concrete :class:`Arch`.

    Raises :class:`SpecError` only if the sampler returns values outside their domains (or a
    repair rule is missing: a bug, reported as such rather than as a traceback).
    """
    data = _Freezer(spec, sampler).arch_data()
    try:
        return arch_from_data(data, source=f"sample of {spec.name}")
    except SpecError as exc:
        raise SpecError(
            [
                Problem(
                    p.path, f"the sampled arch is invalid: {p.message}", line=None, source=p.source
                )
                for p in exc.problems
            ]
        ) from None


def sample(spec: SearchSpec, seed: int | None = None) -> Arch:
    """One random arch of ``spec`` (same seed, same arch)."""
    return freeze(spec, RandomSampler(seed))

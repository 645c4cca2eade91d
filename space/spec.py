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

Where each part lives (this module re-exports the public names)::

    space.spec_base       SpaceNode, the markers and tagged-union helpers every spec model uses
    space.spec_nodes      the searchable space: cell spaces, layers, head, time/readout, feedback
    space.spec_settings   objectives, constraints, the ``search:`` block
    space.datasets        dataset references
    space.spec_model      SearchSpec, the whole document
    space.spec_checks     cross-field checks (check_spec)
    space.spec_loading    spec_from_data, spec_from_text, load_spec
    space.spec_schema     spec_json_schema
"""

from __future__ import annotations

from space.spec_checks import Issue, check_spec, deepest_readout_latency
from space.spec_loading import load_spec, spec_from_data, spec_from_text
from space.spec_model import SearchSpec, has_declared_cell
from space.spec_nodes import (
    FEEDBACK_RULES,
    SPEC_FORMAT,
    CellOneOf,
    EdgeSpace,
    FeedbackSpace,
    ReadoutOneOf,
    branch_name,
)
from space.spec_schema import spec_json_schema
from space.spec_settings import Constraints, Objective, Resources, SearchSettings

__all__ = [
    "FEEDBACK_RULES",
    "SPEC_FORMAT",
    "CellOneOf",
    "Constraints",
    "EdgeSpace",
    "FeedbackSpace",
    "Issue",
    "Objective",
    "ReadoutOneOf",
    "Resources",
    "SearchSettings",
    "SearchSpec",
    "branch_name",
    "check_spec",
    "deepest_readout_latency",
    "has_declared_cell",
    "load_spec",
    "spec_from_data",
    "spec_from_text",
    "spec_json_schema",
]

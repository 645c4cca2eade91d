"""The search spec: a searchable ConvRNN space plus dataset, objectives, constraints and settings.

A spec is a YAML or JSON document (see ``examples/*.yaml`` for annotated ones). Its searchable
models are *built* from the frozen models in :mod:`space.arch` (:mod:`space.spec.twins`, with
``pydantic.create_model`` when it is imported): every scalar field ``f: T`` of
``LayerArch``, each cell model, ``TimeArch``, ``Head``, ``Training`` and ``InputShape`` becomes
``f: T | {choice: ...} | {int: ...} | {float: ...} | {bool: any}`` (see :mod:`space.params`) with
the frozen model's default, so a new arch field is searchable without writing spec code.

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
    feedback       candidates (a rule or an explicit list), min_edges, max_edges, share, and the
                   edge settings entry/kernel/depth_separable/activation (leaves); sampled as
                   ``feedback.edges`` (how many are on, uniform) and one
                   ``feedback.SOURCE->TARGET.priority`` per candidate (the highest are on)
    any leaf       may be ``{tie: FIELD, scale, offset}``: a sibling field's value, not a parameter
    head, time     leaves; time.readout is a kind (last|mean|max_conf|thresh), a mapping, or
                   {one_of: [...]}
    training       every Training field (leaves)
    objectives     [{metric: val_acc|params|flops|neural_fit, goal: max|min, region}]
    neural         the neural data set and fit settings for a ``neural_fit`` objective
    constraints    {max_params, max_flops, max_activation_memory}  (e.g. 200k, 1.5M, 2GiB)
    search         {trials, time_budget, concurrency, sampler, scheduler, seed (0..2**32-1),
                    stop_after_failures, retries, resources}

Where each part lives (this module re-exports the public names; everything outside the
package imports them from here, which an import contract holds)::

    space.spec.base           SpaceNode, the markers and tagged-union helpers every spec model uses
    space.spec.twins          the searchable twins of the arch models (built with create_model)
    space.spec.nodes          the searchable space: cells, layers, head, time/readout, feedback
    space.spec.blocks         objectives, constraints, the ``search:`` block
    space.spec.datasets       dataset references
    space.spec.neural         the ``neural:`` block (neural data and fit settings)
    space.spec.model          SearchSpec, the whole document
    space.spec.checks         cross-field checks (check_spec)
    space.spec.neural_checks  the checks of a ``neural_fit`` objective against its data
    space.spec.loading        spec_from_data, spec_from_text, load_spec
    space.spec.schema         spec_json_schema

The walk over a spec's searched parameters (:mod:`space.walk`), sampling and description use
the spec from outside, through this facade.
"""

from __future__ import annotations

from space.spec.blocks import (
    Constraints,
    NeuralRegion,
    Objective,
    Resources,
    SearchSettings,
    neural_region,
)
from space.spec.checks import Issue, check_spec, deepest_readout_latency
from space.spec.datasets import (
    DATASET_KINDS,
    DATASETS,
    FILE_KINDS,
    NEURAL_KIND,
    NEURAL_NOT_TRAINING,
    PATHFINDER_MIN_SIZE,
    DatasetBase,
    DigitsDataset,
    ImageFolderDataset,
    NpzDataset,
    PathfinderDataset,
    ShapesDataset,
    neural_path,
    parse_shorthand,
    unknown_option_message,
)
from space.spec.loading import load_spec, spec_from_data, spec_from_text
from space.spec.model import SearchSpec, has_declared_cell
from space.spec.neural import CEILING_FLOOR, NeuralFitSettings
from space.spec.nodes import (
    EDGE_SETTINGS,
    FEEDBACK_RULES,
    SPEC_FORMAT,
    CellOneOf,
    EdgeSpace,
    FeedbackSpace,
    LayerSpace,
    ReadoutOneOf,
    branch_name,
)
from space.spec.schema import spec_json_schema
from space.spec.twins import CellKindSpace, ReadoutKindSpace

__all__ = [
    "CEILING_FLOOR",
    "DATASETS",
    "DATASET_KINDS",
    "EDGE_SETTINGS",
    "FEEDBACK_RULES",
    "FILE_KINDS",
    "NEURAL_KIND",
    "NEURAL_NOT_TRAINING",
    "PATHFINDER_MIN_SIZE",
    "SPEC_FORMAT",
    "CellKindSpace",
    "CellOneOf",
    "Constraints",
    "DatasetBase",
    "DigitsDataset",
    "EdgeSpace",
    "FeedbackSpace",
    "ImageFolderDataset",
    "Issue",
    "LayerSpace",
    "NeuralFitSettings",
    "NeuralRegion",
    "NpzDataset",
    "Objective",
    "PathfinderDataset",
    "ReadoutKindSpace",
    "ReadoutOneOf",
    "Resources",
    "SearchSettings",
    "SearchSpec",
    "ShapesDataset",
    "branch_name",
    "check_spec",
    "deepest_readout_latency",
    "has_declared_cell",
    "load_spec",
    "neural_path",
    "neural_region",
    "parse_shorthand",
    "spec_from_data",
    "spec_from_text",
    "spec_json_schema",
    "unknown_option_message",
]

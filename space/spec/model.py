"""``SearchSpec``: the whole spec document (the searchable space plus dataset, objectives,
constraints and search settings), the root that :mod:`space.spec.loading` validates."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field

from space import arch as A
from space.paths import file_fields
from space.spec.base import SpaceNode
from space.spec.blocks import (
    Constraints,
    NeuralRegion,
    Objective,
    ObjectiveItem,
    SearchSettings,
    neural_region,
)
from space.spec.datasets import DatasetRef
from space.spec.neural import NeuralFitSettings
from space.spec.nodes import (
    CellSpace,
    CropDepthwise,
    EdgeSpace,
    FeedbackSpace,
    LayerSpace,
    TimeSpace,
)
from space.spec.twins import HeadSpace, InitSpace, InputSpace, ResizeSpace, TrainingSpace


class SearchSpec(SpaceNode):
    """A complete search: the searchable ConvRNN space and how to search it."""

    format: Literal["convnas.spec/1"] = "convnas.spec/1"
    name: A.Name
    description: str = ""
    dataset: DatasetRef
    input: InputSpace
    classes: A.Int = Field(ge=2, le=100000)
    layers: list[LayerSpace] = Field(min_length=1)
    cells: dict[A.Name, CellSpace] = Field(default_factory=dict)
    feedback: FeedbackSpace = Field(default_factory=FeedbackSpace)
    head: HeadSpace = Field(default_factory=HeadSpace)
    time: TimeSpace = Field(default_factory=TimeSpace)
    training: TrainingSpace = Field(default_factory=TrainingSpace)
    # model options of the whole arch (space.arch.Arch): TF-compatible resizing, initialisation
    resize: ResizeSpace = Field(default_factory=ResizeSpace)
    init: InitSpace = Field(default_factory=InitSpace)
    crop_depthwise: CropDepthwise = False
    objectives: list[ObjectiveItem] = Field(
        default_factory=lambda: [Objective(metric="val_acc")], min_length=1
    )
    constraints: Constraints = Field(default_factory=Constraints)
    search: SearchSettings = Field(default_factory=SearchSettings)
    neural: NeuralFitSettings | None = Field(
        default=None,
        description="Fit each trained candidate to recorded neurons (the neural_fit objective "
        "needs it; without that objective the fit is still recorded per trial)",
    )

    @property
    def scheduler(self) -> Literal["asha", "fifo"]:
        """ASHA when val_acc is the one objective (ASHA stops trials on the per-epoch val_acc);
        FIFO for several objectives, or for one that is not measured every epoch (params and
        flops are fixed by the arch, neural_fit is known only once training ends)."""
        if self.search.scheduler:
            return self.search.scheduler
        if len(self.objectives) == 1 and self.objectives[0].metric == "val_acc":
            return "asha"
        return "fifo"

    def neural_objective(self) -> Objective | None:
        """The neural_fit objective, if the spec has one."""
        return next((o for o in self.objectives if o.metric == "neural_fit"), None)

    def neural_region(self) -> NeuralRegion:
        """The region the neural fit is scored on: the objective's, else the neural block's."""
        return neural_region(self.objectives, self.neural.region if self.neural else None)

    def neural_config(self) -> dict[str, Any] | None:
        """The ``neural`` block as plain data for a trial's config, with the region settled
        (:meth:`neural_region`); None without a block."""
        if self.neural is None:
            return None
        region = self.neural_region().name
        # Absolute: Ray Tune runs each trial in its own folder, where a relative path (as the
        # spec and its validation read it, from where the search is run) would not resolve.
        data = f"neural:{os.path.abspath(os.path.expanduser(self.neural.path))}"
        settings = self.neural.model_copy(update={"region": region, "data": data})
        return settings.model_dump(mode="json")

    def file_paths(self) -> list[tuple[str, str]]:
        """``(field path, path)`` of every file the spec names (the dataset's, the neural
        data's): what a server confines to its data roots (:mod:`space.paths`)."""
        return list(file_fields(self))

    def layer(self, name: str) -> LayerSpace:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def edge_candidates(self) -> list[EdgeSpace]:
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


def has_declared_cell(layer: LayerSpace) -> bool:
    """A layer that names or holds a cell space other than a fixed ``kind: none``."""
    cell = layer.cell
    return cell is not None and getattr(cell, "kind", None) != "none"

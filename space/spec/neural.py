"""Settings of the neural fit (issue 14): how a model's layers and time steps are fit to
recorded neurons. Torch-free (space core: stdlib + pydantic); the fit itself is
:mod:`workers.neural`.

Time mapping: response bin ``b`` is compared with the layer's outputs at model steps
``[offset + b * steps_per_bin, offset + (b + 1) * steps_per_bin)``, averaged. With the default
``steps_per_bin: 1, offset: 0`` bin ``b`` is model step ``b`` (one step is about 10 ms of
biological time, convrnn.md §1). Every bin must map inside the model's ``time.steps``; a bin
that does not is an error naming these two settings, never a silently shorter average.

Normalisation: ``normalized = raw / ceiling`` for each region and bin, where ``raw`` is the
median over the region's neurons of the held-out Pearson r and ``ceiling`` the median of the
neurons' split-half reliabilities (Spearman-Brown corrected), as Brain-Score divides. A ceiling
below the floor (:data:`CEILING_FLOOR`, or three null standard errors when that is larger) gives
``normalized: null``: dividing by a reliability that is indistinguishable from zero would turn
noise into a confident fit.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from space.arch import Float, Int
from space.paths import FileField
from space.spec.base import SpaceNode
from space.spec.datasets import neural_path

# Reliabilities below this (Spearman-Brown corrected, median over a region's neurons) are
# treated as "no reliable signal": the normalised fit of that region and bin is null.
CEILING_FLOOR = 0.1
# Bounds that keep one fit after every trial cheap (PLS on at most this many features).
MAX_FEATURES_LIMIT = 20_000
LayerSelection = list[str] | Literal["cells", "all"]


class NeuralFitSettings(SpaceNode):
    """One neural fit: which data, which layers, how bins map to steps, the PLS and the folds."""

    data: Annotated[str, FileField(neural_path)] = Field(
        min_length=1,
        description="The neural data set: neural:PATH or a plain PATH to an .npz file "
        "(stimuli, responses, optional regions, bin_ms, labels); stored as neural:PATH",
    )
    region: str | None = Field(
        default=None,
        min_length=1,
        description="The region whose fit is the objective (e.g. IT); default: the only "
        "region (or all neurons when the file names none)",
    )
    layers: LayerSelection = Field(
        default="cells",
        description="Layers to fit: 'cells' (layers with a recurrent cell; every layer when "
        "the arch has none), 'all', or a list of layer names",
    )
    steps_per_bin: Int = Field(
        default=1, ge=1, le=1000, description="Model steps averaged into one response bin"
    )
    offset: Int = Field(default=0, ge=0, le=10_000, description="Model step of the first bin")
    folds: Int = Field(default=5, ge=2, le=100, description="Cross-validation folds over images")
    components: Int = Field(
        default=25,
        ge=1,
        le=1000,
        description="PLS components (capped at the feature count and the train images - 1)",
    )
    max_features: Int = Field(
        default=1000,
        ge=1,
        le=MAX_FEATURES_LIMIT,
        description="Feature width per layer and step: spatial average pooling to the largest "
        "grid that fits, then a fixed seeded random projection when channels alone exceed it",
    )
    seed: Int = Field(
        default=0, ge=0, le=2**32 - 1, description="Seed of the folds, the projection, the splits"
    )
    cv: Literal["kfold", "brainscore"] = Field(
        default="kfold",
        description="'kfold': folds over the images (stratified by label), r over the pooled "
        "held-out predictions; 'brainscore': Brain-Score's 10 random stratified 90/10 splits, "
        "per split the median r over neurons, averaged (folds is then unused)",
    )
    selection: Literal["nested", "max"] = Field(
        default="nested",
        description="How the objective picks its layer and bin: 'nested' chooses them on one "
        "half of the images and scores the choice on the other (both ways, averaged), so the "
        "choice is not fit to the images it is scored on; 'max' is the best cell of the full "
        "table (optimistic: the maximum of many noisy scores)",
    )
    ceiling: Float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="A given ceiling (every region and bin), required when the responses have "
        "no repetitions; overrides the computed one when given",
    )

    @field_validator("data")
    @classmethod
    def _data_ref(cls, value: str) -> str:
        return f"neural:{neural_path(value)}"

    @field_validator("layers")
    @classmethod
    def _layer_names(cls, value: LayerSelection) -> LayerSelection:
        if isinstance(value, list):
            if not value:
                raise ValueError("name at least one layer (or write cells / all)")
            seen = [name for i, name in enumerate(value) if name in value[:i]]
            if seen:
                raise ValueError(f"layer listed twice: {seen[0]}")
        return value

    @property
    def path(self) -> str:
        """The file's path (``data`` without the ``neural:`` prefix)."""
        return neural_path(self.data)

    def bin_steps(self, b: int) -> range:
        """Model steps averaged for response bin ``b``."""
        start = self.offset + b * self.steps_per_bin
        return range(start, start + self.steps_per_bin)

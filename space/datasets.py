"""Dataset references as a spec writes them: one pydantic model per kind, torch-free.

The spec validates them; ``workers.data`` parses every other form (CLI strings, trial configs)
into the same models, so a bound or an option is defined once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from space.spec_base import SpaceNode, keyed_tag, tagged_choice


class DatasetBase(SpaceNode):
    """A dataset reference. Options mirror the loaders' (``workers.data``), which check them
    again; :meth:`to_ref` gives the mapping they accept."""

    # Shared by every kind (workers.data.ref pulls them out before the kind's own options).
    val_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int | None = Field(default=None, ge=0, description="Seed of the split (and generator)")
    limit: int | None = Field(default=None, ge=1, description="Use at most N images")

    def to_ref(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class DigitsDataset(DatasetBase):
    """scikit-learn's bundled 8x8 handwritten digits (10 classes), upsampled to the input."""

    name: Literal["digits"]


class ShapesDataset(DatasetBase):
    """Procedural shapes at random positions and scales (easy; for smoke tests)."""

    name: Literal["shapes"]
    samples: int = Field(default=2000, ge=4, le=1_000_000, description="Number of images")
    size: int | None = Field(default=None, ge=8, le=1024, description="Default: input.size")
    classes: int | None = Field(default=None, ge=2, description="Default: the spec's classes")


class PathfinderDataset(DatasetBase):
    """Are the two dots joined by one curve, among distractors (long-range integration)."""

    name: Literal["pathfinder"]
    samples: int = Field(default=4000, ge=4, le=1_000_000, description="Number of images")
    size: int | None = Field(default=None, ge=16, le=512, description="Default: input.size")
    difficulty: Literal["easy", "medium", "hard"] = "medium"
    length: float | None = Field(default=None, ge=0.1, le=3.0)
    distractors: int | None = Field(default=None, ge=1, le=32)
    max_turn: float = Field(default=0.6, ge=0.0, le=3.14)


class ImageFolderDataset(DatasetBase):
    """PATH/<class>/*.png|jpg, one subfolder per class."""

    name: Literal["imagefolder"]
    path: str = Field(min_length=1)
    max_per_class: int | None = Field(default=None, ge=1)


class NpzDataset(DatasetBase):
    """An .npz file with ``x`` [N,H,W(,C)] uint8 and ``y`` integer labels."""

    name: Literal["npz"]
    path: str = Field(min_length=1)


DATASETS: dict[str, type[DatasetBase]] = {
    "digits": DigitsDataset,
    "shapes": ShapesDataset,
    "pathfinder": PathfinderDataset,
    "imagefolder": ImageFolderDataset,
    "npz": NpzDataset,
}


def _dataset_shorthand(value: Any) -> Any:
    """``digits``, ``imagefolder:PATH``, ``npz:PATH``, ``pathfinder:difficulty=hard,samples=9``."""
    if not isinstance(value, str):
        return value
    name, sep, rest = value.partition(":")
    if not sep:
        return {"name": name}
    if name in ("imagefolder", "npz"):
        return {"name": name, "path": rest}
    options = dict(part.partition("=")[::2] for part in rest.split(",") if part.strip())
    return {"name": name, **{k.strip(): v.strip() for k, v in options.items()}}


# The shorthand as the JSON Schema describes it: NAME, or NAME:PATH / NAME:key=value,...
_DATASET_SHORTHAND = rf"^({'|'.join(DATASETS)})(:.*)?$"

if TYPE_CHECKING:
    DatasetRef = Any
else:
    _DATASET_UNION = tagged_choice(
        DATASETS,
        keyed_tag("name"),
        f"expected a dataset name ({'|'.join(DATASETS)}); write imagefolder:PATH or npz:PATH",
    )
    DatasetRef = Annotated[
        (
            _DATASET_UNION,
            BeforeValidator(
                _dataset_shorthand,
                json_schema_input_type=Annotated[str, Field(pattern=_DATASET_SHORTHAND)]
                | _DATASET_UNION,
            ),
        )
    ]

"""Dataset references: one pydantic model per kind, torch-free, and the one definition of them.

The spec validates them; ``workers.data.parse_dataset_ref`` turns every other form (CLI strings,
trial configs) into the same models, and the loaders take the typed model, so a bound or an
option is defined here only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from space.arch import Float, Int
from space.paths import FilePath
from space.spec.base import SpaceNode, ValidateAs, keyed_tag, tagged_choice

FILE_KINDS = ("imagefolder", "npz")
# The number of shape classes ``workers.data.shapes`` draws (a test keeps the two equal).
SHAPES_CLASSES = 10
# Pathfinder draws images of at least this side (smaller ones cannot hold two curves).
PATHFINDER_MIN_SIZE = 16
# Fields every kind shares: not options of the kind (see ``DatasetBase.options``).
SHARED_FIELDS = frozenset({"name", "path", "val_fraction", "seed", "limit"})


class DatasetBase(SpaceNode):
    """A dataset reference. :meth:`to_ref` gives the plain mapping stored with trials and
    exports (every form parses back to the same model)."""

    val_fraction: Float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: Int | None = Field(
        default=None, ge=0, le=2**32 - 1, description="Seed of the split (and generator)"
    )
    limit: Int | None = Field(default=None, ge=1, description="Use at most N images")

    def to_ref(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)

    @property
    def kind(self) -> str:
        name: str = getattr(self, "name")  # noqa: B009 - every subclass declares its literal
        return name

    @property
    def options(self) -> dict[str, Any]:
        """The kind's own options as written (defaults left out), e.g. ``{"samples": 100}``."""
        return {k: getattr(self, k) for k in sorted(self.model_fields_set - SHARED_FIELDS)}

    def __str__(self) -> str:
        """``npz:PATH``, ``shapes:classes=4,samples=200`` or ``digits``: the dataset's name in
        records (preprocessing, trial info)."""
        path = getattr(self, "path", None)
        if path is not None:
            return f"{self.kind}:{path}"
        if self.options:
            return f"{self.kind}:" + ",".join(f"{k}={v}" for k, v in self.options.items())
        return self.kind


class DigitsDataset(DatasetBase):
    """scikit-learn's bundled 8x8 handwritten digits (10 classes), upsampled to the input."""

    name: Literal["digits"]


class ShapesDataset(DatasetBase):
    """Procedural shapes at random positions and scales (easy; for smoke tests)."""

    name: Literal["shapes"]
    samples: Int = Field(default=2000, ge=4, le=1_000_000, description="Number of images")
    size: Int | None = Field(default=None, ge=8, le=1024, description="Default: input.size")
    classes: Int | None = Field(
        default=None, ge=2, le=SHAPES_CLASSES, description="Default: the spec's classes"
    )


class PathfinderDataset(DatasetBase):
    """Are the two dots joined by one curve, among distractors (long-range integration)."""

    name: Literal["pathfinder"]
    samples: Int = Field(default=4000, ge=4, le=1_000_000, description="Number of images")
    size: Int | None = Field(
        default=None, ge=PATHFINDER_MIN_SIZE, le=512, description="Default: input.size"
    )
    difficulty: Literal["easy", "medium", "hard"] = "medium"
    length: Float | None = Field(default=None, ge=0.1, le=3.0)
    distractors: Int | None = Field(default=None, ge=1, le=32)
    max_turn: Float = Field(default=0.6, ge=0.0, le=3.14)


class ImageFolderDataset(DatasetBase):
    """PATH/<class>/*.png|jpg, one subfolder per class."""

    name: Literal["imagefolder"]
    path: FilePath
    max_per_class: Int | None = Field(default=None, ge=1)


class NpzDataset(DatasetBase):
    """An .npz file with ``x`` [N,H,W(,C)] uint8 and ``y`` integer labels."""

    name: Literal["npz"]
    path: FilePath


NEURAL_KIND = "neural"
NEURAL_NOT_TRAINING = (
    "neural:PATH is a neural data set: models are fit to it (the neural_fit objective, "
    "convnas fit), not trained on it; train on an image data set"
)


class NeuralDataset(SpaceNode):
    """A neural data set (issue 14): an .npz file with ``stimuli`` uint8 [N,H,W(,C)] and
    ``responses`` [reps,N,neurons,bins] or [N,neurons,bins], optional ``regions``, ``bin_ms``
    and ``labels``. Models are *fit* to it (``workers.neural``), never trained on it, so it is
    not one of :data:`DATASETS` (a training ``dataset: neural:PATH`` is refused by name)."""

    name: Literal["neural"] = "neural"
    path: FilePath

    def to_ref(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path}

    def __str__(self) -> str:
        return f"{NEURAL_KIND}:{self.path}"


def neural_path(value: str) -> str:
    """``neural:PATH`` or a plain ``PATH`` -> ``PATH``; a ValueError naming the form for an
    empty path or a training kind's reference (``npz:PATH`` is images and labels, not neurons)."""
    text = value.strip()
    name, sep, rest = text.partition(":")
    if sep and name.strip().lower() == NEURAL_KIND:
        text = rest.strip()
    elif sep and name.strip().lower() in DATASETS:
        raise ValueError(
            f"{name.strip()}:... is a training data set; a neural data set is neural:PATH"
        )
    if not text:
        raise ValueError("a neural data set needs a path: neural:PATH")
    return text


def parse_neural_ref(value: str | dict[str, Any]) -> NeuralDataset:
    """``neural:PATH``, a plain path, or ``{name: neural, path: PATH}`` as a model (ValueError
    naming the problem otherwise)."""
    if isinstance(value, dict):
        name = str(value.get("name", NEURAL_KIND)).strip().lower()
        if name != NEURAL_KIND:
            raise ValueError(f"expected name: neural (got {name!r})")
        path = value.get("path")
        if not isinstance(path, str):
            raise ValueError("a neural data set needs a path: neural:PATH")
        return NeuralDataset(path=neural_path(path))
    return NeuralDataset(path=neural_path(value))


DATASETS: dict[str, type[DatasetBase]] = {
    "digits": DigitsDataset,
    "shapes": ShapesDataset,
    "pathfinder": PathfinderDataset,
    "imagefolder": ImageFolderDataset,
    "npz": NpzDataset,
}
DATASET_KINDS = tuple(DATASETS)


def _scalar(text: str) -> int | float | str:
    """``9`` -> 9, ``0.5`` -> 0.5, else the text (then refused where a number is expected)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_shorthand(text: str) -> dict[str, Any]:
    """``digits``, ``imagefolder:PATH``, ``npz:PATH``, ``pathfinder:difficulty=hard,samples=9``
    as a mapping; a ValueError when an option is not written ``key=value``."""
    name, sep, rest = text.strip().partition(":")
    name = name.strip()
    if name.lower() == NEURAL_KIND:
        raise ValueError(NEURAL_NOT_TRAINING)
    if not sep:
        return {"name": name}
    if name in FILE_KINDS:
        return {"name": name, "path": rest.strip()}
    options: dict[str, Any] = {"name": name}
    fields = DATASETS[name].model_fields if name in DATASETS else {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise ValueError(f"options must be written key=value,key=value (got {part!r})")
        # numbers are strict in the models: the text becomes one where the kind has the field
        options[key] = _scalar(value) if key in fields else value
    return options


def accepted_options(name: str) -> str:
    """``"limit, samples, seed, ..."``: what a kind accepts besides ``name``, for messages."""
    model = DATASETS.get(name)
    return ", ".join(sorted(f for f in model.model_fields if f != "name")) if model else ""


def unknown_option_message(name: str) -> str:
    """The one message for an option the kind does not have (spec and CLI forms alike)."""
    if name not in DATASETS:
        return "unknown dataset option"
    return f"unknown option: {name} accepts options: {accepted_options(name)}"


def _dataset_shorthand(value: Any) -> Any:
    return parse_shorthand(value) if isinstance(value, str) else value


# The shorthand as the JSON Schema describes it: NAME, or NAME:PATH / NAME:key=value,...
_DATASET_SHORTHAND = rf"^({'|'.join(DATASETS)})(:.*)?$"

AnyDataset = DigitsDataset | ShapesDataset | PathfinderDataset | ImageFolderDataset | NpzDataset
_DATASET_UNION = tagged_choice(
    DATASETS,
    keyed_tag("name"),
    f"expected a dataset name ({'|'.join(DATASETS)}); write imagefolder:PATH or npz:PATH",
)
# mypy sees the union of the models; pydantic validates the tagged union after the shorthand.
DatasetRef = Annotated[
    AnyDataset,
    ValidateAs(_DATASET_UNION),
    BeforeValidator(
        _dataset_shorthand,
        json_schema_input_type=Annotated[str, Field(pattern=_DATASET_SHORTHAND)] | _DATASET_UNION,
    ),
]

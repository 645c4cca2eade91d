"""Frozen, concrete architectures: the output of sampling a search space.

An :class:`Arch` holds no search domains, only values. It has a canonical JSON form (sorted keys,
defaults written out) and a content hash that is equal for equal architectures, so the same network
written with different key order or with defaults omitted hashes the same.

Semantics of every field are documented on the models; ``space.cost`` (analytic counts) and
``space.nn`` (the torch model) both implement exactly these semantics.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

import yaml
from pydantic import BaseModel, Field, Strict, model_validator

# The cell families and the shared field types are re-exported: ``space.arch`` stays the one
# import for every frozen model (space.spec.twins builds the searchable twin of each).
from space.cells import CELL_KINDS as CELL_KINDS
from space.cells import CELL_MODELS as CELL_MODELS
from space.cells.base import CellModel as CellModel
from space.cells.gru import GRUCell as GRUCell
from space.cells.intersectionrnn import IntersectionRNNCell as IntersectionRNNCell
from space.cells.lstm import LSTMCell as LSTMCell
from space.cells.none import NoneCell as NoneCell
from space.cells.rgc import RGC_MEMORY_ONLY as RGC_MEMORY_ONLY
from space.cells.rgc import RGCCell as RGCCell
from space.cells.simplernn import SimpleRNNCell as SimpleRNNCell
from space.cells.timedecay import TimeDecayCell as TimeDecayCell
from space.cells.ugrnn import UGRNNCell as UGRNNCell
from space.document import read_document
from space.errors import LineMap, SpecError
from space.fields import CELL_TRAINING_FIELDS as CELL_TRAINING_FIELDS
from space.fields import Activation as Activation
from space.fields import Float as Float
from space.fields import Frozen as Frozen
from space.fields import GateNonlinearity as GateNonlinearity
from space.fields import InitScale as InitScale
from space.fields import Int as Int
from space.fields import Kernel as Kernel
from space.fields import Name as Name
from space.fields import NonNegInt as NonNegInt
from space.fields import PositiveInt as PositiveInt
from space.fields import WeightDecay as WeightDecay
from space.graph import check_arch_graph
from space.validation import errors_from_validation, register_union

ARCH_FORMAT: Literal["convnas.arch/1"] = "convnas.arch/1"


# --------------------------------------------------------------------------------------------
# Cells: one module per family under space/cells (its model, parameters, cost, init rules and
# sampling repairs), registered in space.cells.FAMILIES. Every cell sees ``x`` (the output of its
# layer's feedforward conv, after the layer's activation) and ``r`` (the layer's input before
# that conv). Filter sizes are square and same-padded at stride 1. ``bias`` switches the biases
# of the cell's own convs.
# --------------------------------------------------------------------------------------------

if TYPE_CHECKING:
    # mypy reads a cell as the family base; code that needs a family's fields narrows with
    # isinstance, as it did with the static union
    Cell = CellModel
else:
    # the discriminated union of every registered family, in registry order (which fixes the
    # JSON schema's order and the error messages'), built from the registry so that a new
    # family needs no line here
    Cell = Annotated[Union[tuple(CELL_MODELS.values())], Field(discriminator="kind")]  # noqa: UP007


# --------------------------------------------------------------------------------------------
# Layers, feedback, time, readout.
# --------------------------------------------------------------------------------------------


class LayerArch(Frozen):
    """One node of the graph. Order of operations within a step::

        r = input (previous layer's output, or the image for the first layer)
        x = activation(conv_{kernel, stride}(r) [+ feedback at entry 'input'])
        y = cell(x, r)                            # identity when cell.kind == 'none'
        y = post_conv(y) if post_kernel else y    # residual-block second conv
        y = y + proj(r) if residual else y        # bias-free 1x1 projection when channels differ
        y = post_activation(y)
        out = maxpool_{pool}(y)                    # kernel = stride = pool, ceil mode; 1 = none

    For a layer without a cell, feedback at entry 'out' is added to ``y`` before post_conv;
    entry 'cell' is legal only for an rgc with memory.
    """

    name: Name
    channels: PositiveInt
    kernel: Kernel = 3
    stride: Int = Field(default=1, ge=1, le=8)
    pool: Int = Field(default=1, ge=1, le=8)
    activation: Activation = "elu"
    bias: bool = True
    cell: Cell = Field(default_factory=NoneCell)
    post_kernel: Int = Field(default=0, ge=0, le=31)
    residual: bool = False
    post_activation: Activation = "identity"


class FeedbackEdge(Frozen):
    """A long-range edge ``source -> target`` (one time step, like every edge).

    Edges into one target with equal (entry, kernel, depth_separable, activation) share one
    projection conv over the channel concatenation of their resized sources, as released.
    """

    source: Name
    target: Name
    entry: Literal["input", "cell", "out"] = "out"
    kernel: Kernel = 1
    depth_separable: bool = False
    activation: Activation = "identity"


class LastReadout(Frozen):
    kind: Literal["last"] = "last"


#: a decoding window's first step: an int; ``auto``: the first step at which the readout can
#: depend on the image (``space.graph.first_signal_steps``: under the biological unroll every
#: edge costs a step, so the number of layers when no feedback edge shortcuts the path); or
#: ``released``: the released code's ``range(num_layers, times)``, whose ``num_layers`` counts
#: the readout node, i.e. the number of layers + 1 whatever the feedback (one step after
#: ``auto`` without feedback: 6 for the shallow presets, 11 for the intermediate ones).
WindowStart = NonNegInt | Literal["auto", "released"]
#: softmax temperature of a confidence decoder: ``softmax(logits / temperature)``;
#: ``learned``: a trainable inverse temperature ``beta`` (``softmax(beta * logits)``) starting
#: uniform in [0, 1) as released. The chosen step is an argmax, so, as in the released code,
#: ``beta`` moves only the choice, and gets no gradient through it.
Temperature = Annotated[float, Strict(), Field(gt=0.0, le=1000.0)] | Literal["learned"]


WindowEnd = Annotated[int, Strict(), Field(ge=1)] | None


class MeanReadout(Frozen):
    """Mean of the logits over the window ``start <= t < end`` (``end`` None: to the last)."""

    kind: Literal["mean"] = "mean"
    start: WindowStart = "auto"
    end: WindowEnd = None


class MaxConfReadout(Frozen):
    """Per sample, the step of the window ``start <= t < end`` with the most confident
    softmax."""

    _hash_neutral: ClassVar[frozenset[str]] = frozenset({"end", "temperature"})

    kind: Literal["max_conf"] = "max_conf"
    start: WindowStart = "auto"
    end: WindowEnd = None
    temperature: Temperature = 1.0


class ThreshReadout(Frozen):
    """First step of the window ``start <= t < end`` whose max softmax probability passes
    ``threshold``, else the most confident step of the window."""

    _hash_neutral: ClassVar[frozenset[str]] = frozenset({"end", "temperature"})

    kind: Literal["thresh"] = "thresh"
    start: WindowStart = "auto"
    end: WindowEnd = None
    threshold: Float = Field(default=0.9, gt=0.0, le=1.0)
    temperature: Temperature = 1.0


Readout = Annotated[
    LastReadout | MeanReadout | MaxConfReadout | ThreshReadout, Field(discriminator="kind")
]


READOUT_MODELS: dict[str, type[Frozen]] = {
    "last": LastReadout,
    "mean": MeanReadout,
    "max_conf": MaxConfReadout,
    "thresh": ThreshReadout,
}
# pydantic names the member of these unions in its error paths; the translation drops it.
register_union("cell", CELL_MODELS)
register_union("readout", READOUT_MODELS)


def _readout_shorthand(value: Any) -> Any:
    return {"kind": value} if isinstance(value, str) else value


class TimeArch(Frozen):
    """Unroll of ``steps`` steps; image shown for steps ``0 .. image_off-1``, then a blank frame:
    the constant ``blank`` in the model's (already normalised) input space. The released code
    feeds 0.5 there (not mid-gray pixels); 0.0 is the zero input."""

    _hash_neutral: ClassVar[frozenset[str]] = frozenset({"blank"})

    steps: Int = Field(default=1, ge=1, le=256)
    image_off: Int | None = Field(default=None, ge=1)
    readout: Readout = Field(default_factory=LastReadout)
    unroll: Literal["biological", "feedforward"] = "biological"
    blank: Annotated[float, Strict(), Field(ge=-1000.0, le=1000.0)] = 0.0

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and "readout" in data:
            data = {**data, "readout": _readout_shorthand(data["readout"])}
        return data

    @property
    def image_steps(self) -> int:
        return min(self.image_off or self.steps, self.steps)


class Head(Frozen):
    """Readout head: ``fc`` = global average pool then a linear layer; ``conv`` = a
    ``kernel`` x ``kernel`` conv to the classes then global average pool. ``padding`` applies to
    the conv head: the released shallow models use a VALID 2x2 conv on the final 4x4 map."""

    kind: Literal["fc", "conv"] = "fc"
    kernel: Kernel = 1
    padding: Literal["same", "valid"] = "same"


class Training(Frozen):
    """Training hyperparameters of one candidate (sampled with it; not part of ``arch_hash``)."""

    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: Float = Field(default=0.05, gt=0.0, le=10.0)
    momentum: Float = Field(default=0.9, ge=0.0, lt=1.0)
    nesterov: bool = True
    weight_decay: Float = Field(default=1e-4, ge=0.0, le=1.0)
    batch_size: Int = Field(default=64, ge=1, le=65536)
    epochs: Int = Field(default=2, ge=1, le=10000)
    # Clipping by default: BPTT through many steps of an untuned deep ConvRNN explodes without it
    # (the papers clipped too); None turns it off.
    grad_clip: Float | None = Field(default=1.0, gt=0.0)
    grad_clip_mode: Literal["norm", "value"] = "norm"
    lr_schedule: Literal["constant", "cosine", "step"] = "cosine"
    warmup_epochs: Float = Field(default=0.0, ge=0.0)
    label_smoothing: Float = Field(default=0.0, ge=0.0, lt=1.0)


class Resize(Frozen):
    """How feedback inputs and resized residual inputs reach a layer's spatial size:
    ``align_corners`` true is TF's ``resize_images(..., align_corners=True)`` of the released
    code; false (default) keeps convnas's half-pixel bilinear resize."""

    mode: Literal["bilinear"] = "bilinear"
    align_corners: bool = False


class Init(Frozen):
    """Initial weights. ``xavier`` (default): Glorot-uniform kernels, zero biases.
    ``tf``: as the released code: fan-in variance scaling (truncated normal, ``scale``) for the
    layers' own convs (feedforward, post, residual projections), N(0, 0.01) readout kernels
    (an fc readout's bias starts at 1, as released), Glorot-uniform cell and feedback kernels
    with TF's fan sizes, zero biases except the GRU gates' (1.0). A cell's ``init_scale``
    overrides its kernels in either scheme."""

    scheme: Literal["xavier", "tf"] = "xavier"
    scale: InitScale = 1.0

    @model_validator(mode="before")
    @classmethod
    def _canonical_scale(cls, data: Any) -> Any:
        """``scale`` means nothing under ``xavier``: reset it, so that equal models hash equal."""
        if isinstance(data, dict) and data.get("scheme", "xavier") == "xavier" and "scale" in data:
            data = {k: v for k, v in data.items() if k != "scale"}
        return data


class InputShape(Frozen):
    size: Int = Field(ge=4, le=4096)
    channels: Int = Field(ge=1, le=64)


class Arch(Frozen):
    """A concrete ConvRNN: the unit that is hashed, trained, recorded and exported."""

    _hash_neutral: ClassVar[frozenset[str]] = frozenset({"resize", "init", "crop_depthwise"})

    format: Literal["convnas.arch/1"] = ARCH_FORMAT
    input: InputShape
    classes: Int = Field(ge=2, le=100000)
    layers: tuple[LayerArch, ...] = Field(min_length=1)
    feedback: tuple[FeedbackEdge, ...] = ()
    head: Head = Field(default_factory=Head)
    time: TimeArch = Field(default_factory=TimeArch)
    resize: Resize = Field(default_factory=Resize)
    init: Init = Field(default_factory=Init)
    #: depth-separable kernels larger than the map they run on shrink to the map's size (their
    #: parameters too), as in the released code; False keeps the full kernel (every tap is still
    #: applied through the SAME padding)
    crop_depthwise: bool = False
    training: Training | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_graph(self) -> Arch:
        problems = check_arch_graph(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def layer(self, name: str) -> LayerArch:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    # Canonical forms --------------------------------------------------------------------------

    def structure(self) -> dict[str, Any]:
        """The architecture alone: what ``arch_hash`` covers (no training, no meta), without the
        hash-neutral fields that hold their defaults."""
        data = _without_neutral_defaults(self, self.model_dump(mode="json"))
        data.pop("training", None)
        data.pop("meta", None)
        data["feedback"] = sorted(data["feedback"], key=lambda e: (e["target"], e["source"]))
        return data

    def canonical_json(self) -> str:
        data = self.structure()
        if self.training is not None:
            data["training"] = self.training.model_dump(mode="json")
        return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)

    @property
    def arch_hash(self) -> str:
        """sha256 over the canonical architecture (16 hex digits); training and meta excluded."""
        text = json.dumps(self.structure(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def config_hash(self) -> str:
        """Hash of architecture plus training hyperparameters: the key for duplicate trials."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude_none=False)
        if not self.meta:
            data.pop("meta")
        if self.training is None:
            data.pop("training")
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)


def _without_neutral_defaults(model: BaseModel, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (``model``'s JSON dump) without ``_hash_neutral`` fields at their defaults,
    recursively through nested models and tuples of models."""
    neutral: frozenset[str] = getattr(type(model), "_hash_neutral", frozenset())
    fields = type(model).model_fields
    out: dict[str, Any] = {}
    for name, dumped in data.items():
        value = getattr(model, name)
        if name in neutral and value == fields[name].get_default(call_default_factory=True):
            continue
        if isinstance(value, BaseModel):
            dumped = _without_neutral_defaults(value, dumped)
        elif isinstance(value, tuple):
            dumped = [
                _without_neutral_defaults(v, d) if isinstance(v, BaseModel) else d
                for v, d in zip(value, dumped, strict=True)
            ]
        out[name] = dumped
    return out


def arch_from_data(
    data: Any,
    source: str = "<arch>",
    lines: LineMap | None = None,
    prefix: Sequence[str | int] = (),
) -> Arch:
    """Validate plain data into an :class:`Arch`, raising :class:`SpecError` with every problem
    (with file lines when ``lines`` is given; ``prefix`` locates the arch inside the document)."""
    from pydantic import ValidationError

    try:
        return Arch.model_validate(data)
    except ValidationError as exc:
        raise SpecError(errors_from_validation(exc, source, lines, prefix)) from None


def load_arch(path: str | Path) -> Arch:
    """Load an arch file (YAML or JSON; exported files with provenance are accepted too)."""
    data, lines = read_document(Path(path))
    prefix: tuple[str, ...] = ()
    if isinstance(data, dict) and "arch" in data and "format" not in data:
        data, prefix = data["arch"], ("arch",)
    return arch_from_data(data, str(path), lines, prefix)


def save_arch(arch: Arch, path: str | Path) -> None:
    path = Path(path)
    text = arch.to_json() + "\n" if path.suffix == ".json" else arch.to_yaml()
    path.write_text(text)

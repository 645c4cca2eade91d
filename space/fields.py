"""The frozen base model and the field types shared by :mod:`space.arch` and the cell families
(:mod:`space.cells`); they live apart from ``space.arch`` so that a family module can use them
without importing the arch (which imports every family)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

Activation = Literal["elu", "relu", "gelu", "tanh", "sigmoid", "identity"]
GateNonlinearity = Literal["sigmoid", "tanh"]
Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
# Numbers are strict: a bool is not a number (``channels: true`` is an error, not 1), nor is
# text; an int is accepted where a float is expected.
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
PositiveInt = Annotated[int, Strict(), Field(gt=0)]
Kernel = Annotated[int, Strict(), Field(ge=1, le=31)]
NonNegInt = Annotated[int, Strict(), Field(ge=0)]
InitScale = Annotated[float, Strict(), Field(gt=0.0, le=100.0)]
WeightDecay = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: fields added after archs were first recorded: left out of ``arch_hash`` while they hold
    #: their default, so every arch written before them keeps its hash (see ``Arch.structure``)
    _hash_neutral: ClassVar[frozenset[str]] = frozenset()


#: cell fields the papers searched per cell, on every cell with kernels:
#: ``init_scale``: the cell's kernels start from fan-in variance scaling with this scale (TF's
#: ``variance_scaling_initializer``, truncated normal; the median RGC used 0.639) whatever the
#: arch's ``init.scheme``; None: the scheme's default for cell kernels (Glorot uniform).
#: ``weight_decay``: L2 decay of the cell's kernels and of the feedback projections into its
#: layer (they live inside the cell in the released code), in place of
#: ``training.weight_decay``; None: the training's.
CELL_TRAINING_FIELDS = frozenset({"init_scale", "weight_decay"})

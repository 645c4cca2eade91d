"""What every cell family defines: :class:`CellModel`, the frozen model of one ``kind`` with the
hooks through which the torch-free core (inventory, cost, sampling walk, graph checks, weight
init) reads the family's own rules, so that none of them switches on the kind.

A family module imports only this module, :mod:`space.fields` and :mod:`space.inventory_parts`:
never :mod:`space.arch`, which imports every family.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, Protocol

from pydantic import BaseModel

from space.fields import Frozen
from space.inventory_parts import ConvSpec, NormSpec, TensorSpec


class CellShape(Protocol):
    """What a family reads of its layer's shape (``space.graph.CellShape`` is one): stated
    here so that no family module depends on the graph, which depends on the arch."""

    @property
    def in_channels(self) -> int:
        """``r``: the layer's input."""

    @property
    def in_size(self) -> int: ...

    @property
    def x_channels(self) -> int:
        """``x``: the cell's input (the layer conv's output)."""

    @property
    def y_channels(self) -> int:
        """The cell's output (its ``depth``, else ``x_channels``)."""

    @property
    def size(self) -> int:
        """The cell's spatial size."""


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()
"""What a walk that does not sample (the lister) answers for a searched parameter."""

NOT_FORCED: Final[Any] = object()
"""What :meth:`CellModel.forced_value` answers for a field it leaves to the sampler."""


def known(done: Mapping[str, Any], *names: str) -> bool:
    """True when every field in ``names`` has a value (not :data:`UNKNOWN`) in ``done``."""
    return all(done.get(name) is not UNKNOWN for name in names)


@dataclass
class CellParts:
    """A cell's parameters, named ``cell.<name>`` in its layer's inventory."""

    convs: list[ConvSpec] = field(default_factory=list)
    norms: list[NormSpec] = field(default_factory=list)
    tensors: list[TensorSpec] = field(default_factory=list)


def cell_norms(names: list[str], channels: int, size: int) -> list[NormSpec]:
    return [NormSpec(f"cell.{n}", channels, size) for n in names]


@dataclass(frozen=True)
class InitRule:
    """A start a family's parameter gets after the generic kernel init (``space.nn.init``):
    ``constant`` fills ``param`` with ``value``; ``peephole`` draws it as TF drew a peephole
    variable under the cell's kernel initialiser."""

    param: str
    fill: Literal["constant", "peephole"]
    value: float = 0.0


class CellModel(Frozen):
    """The frozen model of one cell family; its defaults describe a cell without parameters
    (the ``none`` family). ``kind`` is each family's ``Literal`` discriminator."""

    if TYPE_CHECKING:
        kind: str

    #: elementwise tensors the cell keeps per step for backprop, in units of
    #: :meth:`state_width` x size x size (``space.cost``: e.g. an LSTM keeps i, j, f, o, c,
    #: tanh(c) and h)
    state_tensors: ClassVar[int] = 0

    def parts(self, shape: CellShape) -> CellParts:
        """The cell's convs, norms and free tensors in ``shape``'s layer (``space.inventory``)."""
        return CellParts()

    def state_width(self, shape: CellShape) -> int:
        """The channels of one kept tensor (see :attr:`state_tensors`)."""
        return shape.y_channels

    def init_rules(self, scheme: str) -> tuple[InitRule, ...]:
        """Starts that differ from the generic init under ``scheme`` (``space.nn.init``)."""
        return ()

    @property
    def has_memory(self) -> bool:
        """Whether the cell keeps a memory that feedback of entry ``cell`` can enter."""
        return False

    @classmethod
    def memory_in(cls, values: Mapping[str, Any]) -> bool:
        """:attr:`has_memory` of the cell ``values`` (sampled fields, before freezing)."""
        return False

    @classmethod
    def forced_value(cls, name: str, done: Mapping[str, Any], node: BaseModel) -> Any:
        """The value the walk sets field ``name`` to without sampling it, given the fields
        sampled before it (``done``, in model order) and the spec ``node``; or
        :data:`NOT_FORCED` (also when a value it depends on is :data:`UNKNOWN`)."""
        return NOT_FORCED

    @classmethod
    def repair_condition(cls, name: str, prefix: str) -> str | None:
        """The condition :meth:`forced_value` puts on sampling field ``name`` (for listings)."""
        return None

    # Spec analysis (``space.spec.checks``, ``space.describe``) of the family's searchable
    # twin ``node`` (its fields hold values or leaves) ----------------------------------------

    #: fields whose sampling depends on each other through :meth:`forced_value`: a space's
    #: size counts them jointly
    coupled_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def space_issues(cls, node: BaseModel) -> list[tuple[str, str, Any]]:
        """Problems no sample can escape, as (field, message, bad value)."""
        return []

    @classmethod
    def count_notes(cls, node: BaseModel) -> list[str]:
        """Why counting the node's distinct samples field by field is only an upper bound."""
        return []

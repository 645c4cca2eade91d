"""``rgc``: the Reciprocal Gated Cell (convrnn.md section 2), with every switch of the papers'
search; the one family with a memory that feedback can enter, and with sampling repairs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, model_validator

from space.cells.base import NOT_FORCED, CellModel, CellParts, CellShape, cell_norms, known
from space.fields import (
    CELL_TRAINING_FIELDS,
    Activation,
    Float,
    GateNonlinearity,
    InitScale,
    Int,
    Kernel,
    WeightDecay,
)
from space.inventory_parts import ConvSpec, NormSpec
from space.params import Fixed, TieLeaf, domain_of, finite_values

RGC_MEMORY_ONLY = frozenset(
    {
        "ff_filter_size",
        "ff_depth_separable",
        "cell_tau_filter_size",
        "input_to_cell",
        "cell_residual",
        "cell_to_out",
        "residual_to_cell_tau",
        "residual_to_cell_gate",
        "cell_activation",
    }
)


class RGCCell(CellModel):
    """Reciprocal Gated Cell (convrnn.md section 2), every switch of the papers' search.

    The memory ``c`` exists only when ``cell_depth > 0`` and ``gate_filter_size > 0``. The output
    ``h`` has the channels of ``x``. Defaults give the ``(1 - s(.))`` gating form.
    """

    kind: Literal["rgc"] = "rgc"
    cell_depth: Int = Field(default=0, ge=0)
    tau_filter_size: Kernel = 3
    cell_tau_filter_size: Kernel | None = None
    gate_filter_size: Int = Field(default=3, ge=0, le=31)
    ff_filter_size: Kernel = 3
    in_out_filter_size: Kernel = 3
    tau_depth_separable: bool = False
    gate_depth_separable: bool = False
    ff_depth_separable: bool = False
    in_out_depth_separable: bool = False
    input_to_cell: bool = True
    cell_residual: bool = False
    input_to_out: bool = False
    cell_to_out: bool = False
    out_residual: bool = False
    input_to_tau: bool = False
    input_to_gate: bool = False
    residual_to_cell_tau: bool = False
    residual_to_cell_gate: bool = False
    residual_to_out_tau: bool = False
    residual_to_out_gate: bool = False
    tau_nonlinearity: GateNonlinearity = "sigmoid"
    gate_nonlinearity: GateNonlinearity = "sigmoid"
    tau_offset: Float = 1.0
    tau_multiplier: Float = -1.0
    gate_offset: Float = 1.0
    gate_multiplier: Float = -1.0
    tau_bias: Float = 0.0
    gate_bias: Float = 0.0
    #: where ``tau_bias``/``gate_bias`` apply: ``every_path`` (default) to every tau and gate;
    #: ``released`` exactly where the released code added them: only on full (not
    #: depth-separable) tau/gate convs, not to an output gate without a memory gate, and the
    #: ``gate_bias`` into the ``cell_to_out`` drive
    bias_placement: Literal["every_path", "released"] = "every_path"
    input_activation: Activation = "identity"
    cell_activation: Activation = "elu"
    out_activation: Activation = "elu"
    layer_norm: bool = False
    bias: bool = True
    init_scale: InitScale | None = None
    weight_decay: WeightDecay | None = None

    _hash_neutral: ClassVar[frozenset[str]] = CELL_TRAINING_FIELDS | {"bias_placement"}
    state_tensors: ClassVar[int] = 3  # per state: tau gate, input gate, the state itself

    @property
    def has_memory(self) -> bool:
        return self.cell_depth > 0 and self.gate_filter_size > 0

    @property
    def cell_tau_size(self) -> int:
        return self.cell_tau_filter_size or self.tau_filter_size

    @model_validator(mode="before")
    @classmethod
    def _canonical_without_memory(cls, data: Any) -> Any:
        """Without memory, memory-only switches change nothing: reset them to their defaults so
        that functionally identical cells get one canonical form (and one ``arch_hash``)."""
        if not isinstance(data, dict):
            return data
        depth, gate = data.get("cell_depth", 0), data.get("gate_filter_size", 3)
        if not (isinstance(depth, int) and isinstance(gate, int)) or (depth > 0 and gate > 0):
            return data
        data = {k: v for k, v in data.items() if k not in RGC_MEMORY_ONLY}
        data["cell_depth"] = 0
        if not data.get("residual_to_out_gate"):
            data.pop("gate_depth_separable", None)
            if not data.get("input_to_gate"):
                data["gate_filter_size"] = 0
        return data

    @model_validator(mode="before")
    @classmethod
    def _canonical_bias_placement(cls, data: Any) -> Any:
        """With both biases 0 the placement changes nothing: reset it (one ``arch_hash``)."""
        if isinstance(data, dict) and "bias_placement" in data:
            biases = (data.get("tau_bias", 0.0), data.get("gate_bias", 0.0))
            if all(type(b) in (int, float) and b == 0 for b in biases):
                data = {k: v for k, v in data.items() if k != "bias_placement"}
        return data

    @model_validator(mode="after")
    def _memory_needs_a_drive(self) -> RGCCell:
        if self.has_memory and not (self.input_to_cell or self.cell_residual):
            raise ValueError(
                "an rgc with memory needs input_to_cell or cell_residual (got both false)"
            )
        return self

    # Family hooks ------------------------------------------------------------------------------

    def parts(self, shape: CellShape) -> CellParts:
        convs, norms = _memory_parts(self, shape) if self.has_memory else ([], [])
        out_convs, out_norms = _out_parts(self, shape)
        return CellParts(convs=convs + out_convs, norms=norms + out_norms)

    def state_width(self, shape: CellShape) -> int:
        return shape.x_channels + (self.cell_depth if self.has_memory else 0)

    @classmethod
    def memory_in(cls, values: Mapping[str, Any]) -> bool:
        return bool(values.get("cell_depth", 0)) and bool(values.get("gate_filter_size", 0))

    @classmethod
    def forced_value(cls, name: str, done: Mapping[str, Any], node: BaseModel) -> Any:
        # A memory needs a drive: when one drive cannot be on, the other is set on.
        if not (known(done, "cell_depth", "gate_filter_size") and cls.memory_in(done)):
            return NOT_FORCED
        drive = getattr(node, "cell_residual", None)
        if name == "input_to_cell" and domain_of(drive) == Fixed(False):
            return True
        if name == "cell_residual" and known(done, "input_to_cell") and not done["input_to_cell"]:
            return True
        return NOT_FORCED

    @classmethod
    def repair_condition(cls, name: str, prefix: str) -> str | None:
        if name == "cell_residual":
            return f"not (memory and {prefix}.input_to_cell false: then true)"
        return None

    coupled_fields: ClassVar[tuple[str, ...]] = (
        "cell_depth",
        "gate_filter_size",
        "input_to_cell",
        "cell_residual",
    )

    @classmethod
    def space_issues(cls, node: BaseModel) -> list[tuple[str, str, Any]]:
        # Sampling forces one memory drive on when the other is off (forced_value): only both
        # fixed off while memory is possible is an error.
        can_remember = _can_be(getattr(node, "cell_depth", 0), lambda d: d > 0) and _can_be(
            getattr(node, "gate_filter_size", 3), lambda g: g > 0
        )
        no_drive = getattr(node, "input_to_cell", True) is False
        if can_remember and no_drive and getattr(node, "cell_residual", False) is False:
            message = (
                "an rgc with memory (cell_depth and gate_filter_size > 0) needs input_to_cell or "
                "cell_residual"
            )
            return [("input_to_cell", message, False)]
        return _overridden_ties(node) if can_remember else []

    @classmethod
    def count_notes(cls, node: BaseModel) -> list[str]:
        if _memoryless_merges(node):
            return ["an rgc without memory ignores its memory-only switches: upper bound"]
        return []


def _overridden_ties(node: BaseModel) -> list[tuple[str, str, Any]]:
    """Ties the memory repair (``forced_value``) could override, which would break them
    silently: each is refused. Only called when the cell can have memory."""
    drive, residual = getattr(node, "input_to_cell", True), getattr(node, "cell_residual", False)
    issues = []
    if isinstance(residual, TieLeaf) and _can_be(drive, lambda v: v is False):
        issues.append(
            (
                "cell_residual",
                "a tie the memory repair would override: with memory, cell_residual is set "
                "true whenever input_to_cell is false; fix input_to_cell true, set "
                "cell_residual without a tie, or make the cell memoryless",
                residual.model_dump(by_alias=True),
            )
        )
    if isinstance(drive, TieLeaf) and residual is False:
        issues.append(
            (
                "input_to_cell",
                "a tie the memory repair would override: with memory and cell_residual false, "
                "input_to_cell is set true; set it without a tie",
                drive.model_dump(by_alias=True),
            )
        )
    return issues


def _can_be(value: Any, predicate: Callable[[Any], bool]) -> bool:
    """Whether a field (a value or a leaf) can take a value with ``predicate``."""
    values = finite_values(domain_of(value))
    return values is None or any(predicate(v) for v in values)


def _memoryless_merges(node: BaseModel) -> bool:
    """True when distinct sampled rgc settings can freeze to one canonical memoryless cell
    (``RGCCell`` resets memory-only switches when there is no memory)."""
    values = {name: finite_values(domain_of(getattr(node, name))) for name in RGC_MEMORY_ONLY}
    depth = finite_values(domain_of(getattr(node, "cell_depth", 0)))
    gate = finite_values(domain_of(getattr(node, "gate_filter_size", 3)))
    can_lack = depth is None or gate is None or 0 in depth or 0 in gate
    if not can_lack:
        return False
    separable = getattr(node, "gate_depth_separable", False)
    values["gate_depth_separable"] = finite_values(domain_of(separable))
    searched = [v is None or len(v) > 1 for v in values.values()]
    depth_varies = depth is None or len(depth) > 1
    gate_varies = gate is None or len(gate) > 1
    return (
        any(searched)
        or (gate_varies and 0 in (depth or [0]))
        or (depth_varies and 0 in (gate or [0]))
    )


def _memory_parts(cell: RGCCell, shape: CellShape) -> tuple[list[ConvSpec], list[NormSpec]]:
    c, r, d, s, b = shape.x_channels, shape.in_channels, cell.cell_depth, shape.size, cell.bias
    ff, tau, gate = cell.ff_filter_size, cell.cell_tau_size, cell.gate_filter_size
    switches = [
        (cell.input_to_cell, ConvSpec("cell.in_to_cell", c, d, ff, s, b, cell.ff_depth_separable)),
        (cell.cell_residual, ConvSpec("cell.res_to_cell", r, d, ff, s, b, cell.ff_depth_separable)),
        (True, ConvSpec("cell.cell_tau", d, d, tau, s, b, cell.tau_depth_separable)),
        (True, ConvSpec("cell.out_to_cell", c, d, gate, s, b, cell.gate_depth_separable)),
        (cell.input_to_tau, ConvSpec("cell.in_to_cell_tau", c, d, tau, s, False)),
        (cell.residual_to_cell_tau, ConvSpec("cell.res_to_cell_tau", r, d, tau, s, False)),
        (cell.input_to_gate, ConvSpec("cell.in_to_cell_gate", c, d, gate, s, False)),
        (cell.residual_to_cell_gate, ConvSpec("cell.res_to_cell_gate", r, d, gate, s, False)),
    ]
    norms = cell_norms(["ln_cell"], d, s) if cell.layer_norm else []
    return [spec for on, spec in switches if on], norms


def _out_parts(cell: RGCCell, shape: CellShape) -> tuple[list[ConvSpec], list[NormSpec]]:
    c, r, d, s, b = shape.x_channels, shape.in_channels, cell.cell_depth, shape.size, cell.bias
    tau, gate, gds = cell.tau_filter_size, cell.gate_filter_size, cell.gate_depth_separable
    switches = [
        (True, ConvSpec("cell.out_tau", c, c, tau, s, b, cell.tau_depth_separable)),
        (cell.has_memory, ConvSpec("cell.cell_to_out", d, c, gate, s, b, gds)),
        (
            cell.input_to_out,
            ConvSpec(
                "cell.in_to_out", c, c, cell.in_out_filter_size, s, b, cell.in_out_depth_separable
            ),
        ),
        (
            cell.out_residual and (r != c or shape.in_size != s),
            ConvSpec("cell.res_to_out", r, c, 1, s, False),
        ),
        (cell.input_to_tau, ConvSpec("cell.in_to_out_tau", c, c, tau, s, False)),
        (cell.residual_to_out_tau, ConvSpec("cell.res_to_out_tau", r, c, tau, s, False)),
        (cell.input_to_gate, ConvSpec("cell.in_to_out_gate", c, c, max(gate, 1), s, False)),
        (
            cell.residual_to_out_gate,
            ConvSpec("cell.res_to_out_gate", r, c, max(gate, 1), s, False, gds),
        ),
    ]
    norms = cell_norms(["ln_out"], c, s) if cell.layer_norm else []
    return [spec for on, spec in switches if on], norms


MODEL = RGCCell

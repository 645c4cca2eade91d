"""``rgc``: the Reciprocal Gated Cell with every switch of the papers' search (convrnn.md §2).

With memory ``c`` (``has_memory``)::

    D_c = [in_to_cell] K*x + [res_to_cell] K*r (+ feedback, entry 'cell')
    T_c = phi_tau(K_tc*c + tau_bias [+ K*x] [+ K*r])       # cell_tau (+ extra tau inputs)
    G_c = phi_gate(K_gc*h + gate_bias [+ K*x] [+ K*r])     # out_to_cell: h gates c
    c'  = a_c(LN?((a_t + b_t.T_c).c + (a_g + b_g.G_c).D_c))

Output ``h`` (channels of ``x``)::

    D_h = K_io*x if input_to_out else x; + K*c if cell_to_out; + r (projected) if out_residual;
          (+ feedback, entry 'out')
    T_h = phi_tau(K_th*h + tau_bias [+ K*x] [+ K*r])       # out_tau
    G_h = phi_gate([K_gh*c unless cell_to_out] + gate_bias [+ K*x] [+ K*r])   # c gates h
    h'  = a_h(LN?((a_t + b_t.T_h).h + (a_g + b_g.G_h).D_h))

``tau_bias``/``gate_bias`` are added on every path, depth-separable included (the released code
dropped them there; ``bias_placement: released`` reproduces it exactly: no bias on a
depth-separable tau or gate, none on an output gate without a memory gate, ``gate_bias`` added to
the ``cell_to_out`` drive), and only to gate pre-activations (it also added ``gate_bias`` to the
``cell_to_out`` drive, which we do not). Both gates read the previous states.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from space.arch import Cell, RGCCell
from space.graph import LayerShape
from space.inventory import LayerInventory
from space.nn.cells.base import CellModule, State
from space.nn.layers import ConvGroup, activation, conv_groups
from space.nn.registry import register_cell

_GATE_FNS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}


#: the tensor each conv reads: x (cell input), r (layer input), c / h (previous states)
_SOURCES = {
    "in_to_cell": "x",
    "res_to_cell": "r",
    "cell_tau": "c",
    "out_to_cell": "h",
    "in_to_cell_tau": "x",
    "res_to_cell_tau": "r",
    "in_to_cell_gate": "x",
    "res_to_cell_gate": "r",
    "out_tau": "h",
    "cell_to_out": "c",
    "in_to_out": "x",
    "res_to_out": "r",
    "in_to_out_tau": "x",
    "res_to_out_tau": "r",
    "in_to_out_gate": "x",
    "res_to_out_gate": "r",
}


def _sum(
    k: dict[str, Tensor], names: tuple[str, ...], start: Tensor | None = None
) -> Tensor | None:
    """``start`` plus the outputs of the convs ``names`` that exist, in order."""
    total = start
    for name in names:
        if name in k:
            total = k[name] if total is None else total + k[name]
    return total


def _bias_placement(cell: RGCCell) -> dict[str, float]:
    """The constant added to each tau / gate pre-activation (and to the ``cell_to_out`` drive)."""
    tau, gate = cell.tau_bias, cell.gate_bias
    if cell.bias_placement == "every_path":
        return {
            "cell_tau": tau,
            "cell_gate": gate,
            "out_tau": tau,
            "out_gate": gate,
            "cell_to_out_drive": 0.0,
        }
    full_tau = 0.0 if cell.tau_depth_separable else tau
    full_gate = 0.0 if cell.gate_depth_separable else gate
    memory_gates_out = cell.has_memory and not cell.cell_to_out
    return {
        "cell_tau": full_tau,
        "cell_gate": full_gate,
        "out_tau": full_tau,
        "out_gate": full_gate if memory_gates_out else 0.0,
        "cell_to_out_drive": full_gate if cell.has_memory and cell.cell_to_out else 0.0,
    }


class ReciprocalGatedCell(CellModule):
    takes_out_feedback = True

    def __init__(self, cell: RGCCell, shape: LayerShape, inv: LayerInventory) -> None:
        super().__init__(shape, inv)
        opt = self._optional
        self.has_memory = cell.has_memory
        self.cell_to_out_drive = cell.cell_to_out and cell.has_memory
        self.input_to_out = cell.input_to_out
        self.out_residual = cell.out_residual
        # memory path
        self.in_to_cell = opt(inv, "in_to_cell")
        self.res_to_cell = opt(inv, "res_to_cell")
        self.cell_tau = opt(inv, "cell_tau")
        self.out_to_cell = opt(inv, "out_to_cell")
        self.in_to_cell_tau = opt(inv, "in_to_cell_tau")
        self.res_to_cell_tau = opt(inv, "res_to_cell_tau")
        self.in_to_cell_gate = opt(inv, "in_to_cell_gate")
        self.res_to_cell_gate = opt(inv, "res_to_cell_gate")
        # output path
        self.out_tau = self.conv(inv, "out_tau")
        self.cell_to_out = opt(inv, "cell_to_out")
        self.in_to_out = opt(inv, "in_to_out")
        self.res_to_out = opt(inv, "res_to_out")
        self.in_to_out_tau = opt(inv, "in_to_out_tau")
        self.res_to_out_tau = opt(inv, "res_to_out_tau")
        self.in_to_out_gate = opt(inv, "in_to_out_gate")
        self.res_to_out_gate = opt(inv, "res_to_out_gate")
        ln = cell.layer_norm
        self.ln_cell: nn.Module = (
            self.norm(inv, "ln_cell") if ln and self.has_memory else nn.Identity()
        )
        self.ln_out: nn.Module = self.norm(inv, "ln_out") if ln else nn.Identity()

        self.phi_tau = _GATE_FNS[cell.tau_nonlinearity]
        self.phi_gate = _GATE_FNS[cell.gate_nonlinearity]
        self.tau_offset, self.tau_multiplier = cell.tau_offset, cell.tau_multiplier
        self.gate_offset, self.gate_multiplier = cell.gate_offset, cell.gate_multiplier
        self.biases = _bias_placement(cell)
        self.input_act = activation(cell.input_activation)
        self.cell_act = activation(cell.cell_activation)
        self.out_act = activation(cell.out_activation)
        self.uses_residual = (
            any(
                m is not None
                for m in (
                    self.res_to_cell,
                    self.res_to_cell_tau,
                    self.res_to_cell_gate,
                    self.res_to_out_tau,
                    self.res_to_out_gate,
                )
            )
            or cell.out_residual
        )
        self.groups = self._conv_groups()
        channels = (shape.x_channels,)
        self.state_channels = (cell.cell_depth, *channels) if self.has_memory else channels

    def _optional(self, inv: LayerInventory, name: str) -> nn.Module | None:
        return self.conv(inv, name) if inv.has(f"cell.{name}") else None

    def _conv_groups(self) -> list[tuple[str, ConvGroup]]:
        """Every conv by the tensor it reads (all read x, r or the previous c, h), fused where
        they share input and geometry."""
        convs: dict[str, tuple[str, nn.Module]] = {}
        for name, source in _SOURCES.items():
            module = getattr(self, name)
            if module is not None:
                convs[name] = (source, module)
        return conv_groups(convs)

    def prepare(self) -> None:
        for _, group in self.groups:
            group.prepare()

    def release(self) -> None:
        for _, group in self.groups:
            group.release()

    def _mix(
        self, prev: Tensor, tau_pre: Tensor, gate_pre: Tensor, drive: Tensor, state: str
    ) -> Tensor:
        """``state``: ``cell`` or ``out``, whose tau and gate biases apply."""
        tau_bias, gate_bias = self.biases[f"{state}_tau"], self.biases[f"{state}_gate"]
        tau = self.tau_offset + self.tau_multiplier * self.phi_tau(tau_pre + tau_bias)
        gate = self.gate_offset + self.gate_multiplier * self.phi_gate(gate_pre + gate_bias)
        return tau * prev + gate * drive

    def _memory(self, k: dict[str, Tensor], c: Tensor, fb: Tensor | None) -> Tensor:
        drive = _sum(k, ("in_to_cell", "res_to_cell"), fb)
        # the arch validator requires input_to_cell or cell_residual; cell_tau, out_to_cell exist
        assert drive is not None
        tau_pre = _sum(k, ("cell_tau", "in_to_cell_tau", "res_to_cell_tau"))
        gate_pre = _sum(k, ("out_to_cell", "in_to_cell_gate", "res_to_cell_gate"))
        assert tau_pre is not None and gate_pre is not None
        return self.cell_act(self.ln_cell(self._mix(c, tau_pre, gate_pre, drive, "cell")))

    def _out_drive(self, x: Tensor, r: Tensor, k: dict[str, Tensor], fb: Tensor | None) -> Tensor:
        drive = k.get("in_to_out", x)
        if self.cell_to_out_drive:
            drive = drive + k["cell_to_out"] + self.biases["cell_to_out_drive"]
        if self.out_residual:
            drive = drive + k.get("res_to_out", r)
        return drive if fb is None else drive + fb

    def _out_gate(self, k: dict[str, Tensor], like: Tensor) -> Tensor:
        names: tuple[str, ...] = ("in_to_out_gate", "res_to_out_gate")
        if not self.cell_to_out_drive:
            names = ("cell_to_out", *names)  # c gates h (absent without memory)
        gate = _sum(k, names)
        # no gate input at all: phi_gate of the constant gate_bias (a zeros tensor keeps shapes)
        return gate if gate is not None else torch.zeros_like(like)

    def forward(
        self,
        x: Tensor,
        r: Tensor,
        state: State,
        fb_cell: Tensor | None = None,
        fb_out: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        x = self.input_act(x)
        c: Tensor | None = None
        if self.has_memory:
            c, h = state
        else:
            (h,) = state
        inputs = {"x": x, "r": r, "c": c, "h": h}
        k: dict[str, Tensor] = {}
        for source, group in self.groups:
            k.update(group(cast(Tensor, inputs[source])))
        new_c = None if c is None else self._memory(k, c, fb_cell)
        drive = self._out_drive(x, r, k, fb_out)
        tau_pre = _sum(k, ("out_tau", "in_to_out_tau", "res_to_out_tau"))
        assert tau_pre is not None
        gate_pre = self._out_gate(k, h)
        new_h = self.out_act(self.ln_out(self._mix(h, tau_pre, gate_pre, drive, "out")))
        if new_c is None:
            return new_h, (new_h,)
        return new_h, (new_c, new_h)


@register_cell("rgc")
def build_rgc(cell: Cell, shape: LayerShape, inv: LayerInventory) -> CellModule:
    assert isinstance(cell, RGCCell)
    return ReciprocalGatedCell(cell, shape, inv)

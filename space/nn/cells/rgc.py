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
dropped them there), and only to gate pre-activations (it also added ``gate_bias`` to the
``cell_to_out`` drive, which we do not). Both gates read the previous states.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from space.arch import Cell, RGCCell
from space.graph import LayerShape
from space.inventory import LayerInventory
from space.nn.cells.base import CellModule, State
from space.nn.layers import activation
from space.nn.registry import register_cell

_GATE_FNS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}


def _add(total: Tensor | None, term: Tensor) -> Tensor:
    return term if total is None else total + term


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
        self.tau_bias, self.gate_bias = cell.tau_bias, cell.gate_bias
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
        channels = (shape.x_channels,)
        self.state_channels = (cell.cell_depth, *channels) if self.has_memory else channels

    def _optional(self, inv: LayerInventory, name: str) -> nn.Module | None:
        return self.conv(inv, name) if inv.has(f"cell.{name}") else None

    def _mix(self, prev: Tensor, tau_pre: Tensor, gate_pre: Tensor, drive: Tensor) -> Tensor:
        tau = self.tau_offset + self.tau_multiplier * self.phi_tau(tau_pre + self.tau_bias)
        gate = self.gate_offset + self.gate_multiplier * self.phi_gate(gate_pre + self.gate_bias)
        return tau * prev + gate * drive

    @staticmethod
    def _extra(total: Tensor, conv: nn.Module | None, inp: Tensor) -> Tensor:
        return total if conv is None else total + conv(inp)

    def _memory(self, x: Tensor, r: Tensor, c: Tensor, h: Tensor, fb: Tensor | None) -> Tensor:
        assert self.cell_tau is not None and self.out_to_cell is not None
        drive: Tensor | None = fb
        if self.in_to_cell is not None:
            drive = _add(drive, self.in_to_cell(x))
        if self.res_to_cell is not None:
            drive = _add(drive, self.res_to_cell(r))
        assert drive is not None  # the arch validator requires input_to_cell or cell_residual
        tau_pre = self._extra(self.cell_tau(c), self.in_to_cell_tau, x)
        tau_pre = self._extra(tau_pre, self.res_to_cell_tau, r)
        gate_pre = self._extra(self.out_to_cell(h), self.in_to_cell_gate, x)
        gate_pre = self._extra(gate_pre, self.res_to_cell_gate, r)
        return self.cell_act(self.ln_cell(self._mix(c, tau_pre, gate_pre, drive)))

    def _out_drive(self, x: Tensor, r: Tensor, c: Tensor | None, fb: Tensor | None) -> Tensor:
        drive = self.in_to_out(x) if self.in_to_out is not None else x
        if self.cell_to_out_drive:
            assert self.cell_to_out is not None and c is not None
            drive = drive + self.cell_to_out(c)
        if self.out_residual:
            drive = drive + (self.res_to_out(r) if self.res_to_out is not None else r)
        return drive if fb is None else drive + fb

    def _out_gate(self, x: Tensor, r: Tensor, c: Tensor | None, like: Tensor) -> Tensor:
        gate: Tensor | None = None
        if c is not None and not self.cell_to_out_drive:
            assert self.cell_to_out is not None
            gate = self.cell_to_out(c)
        if self.in_to_out_gate is not None:
            gate = _add(gate, self.in_to_out_gate(x))
        if self.res_to_out_gate is not None:
            gate = _add(gate, self.res_to_out_gate(r))
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
        new_c: Tensor | None = None
        if self.has_memory:
            c, h = state
            new_c = self._memory(x, r, c, h, fb_cell)
        else:
            (h,) = state
        drive = self._out_drive(x, r, c, fb_out)
        tau_pre = self._extra(self.out_tau(h), self.in_to_out_tau, x)
        tau_pre = self._extra(tau_pre, self.res_to_out_tau, r)
        gate_pre = self._out_gate(x, r, c, h)
        new_h = self.out_act(self.ln_out(self._mix(h, tau_pre, gate_pre, drive)))
        if new_c is None:
            return new_h, (new_h,)
        return new_h, (new_c, new_h)


@register_cell("rgc")
def build_rgc(cell: Cell, shape: LayerShape, inv: LayerInventory) -> CellModule:
    assert isinstance(cell, RGCCell)
    return ReciprocalGatedCell(cell, shape, inv)

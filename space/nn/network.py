"""The unrolled ConvRNN: layers as graph nodes, every edge one time step (convrnn.md §1).

Biological unroll (default): at step ``t`` every layer reads its feedforward input and its
feedback sources from step ``t-1`` and its own state from ``t-1``; the first layer reads the
frame of step ``t`` (the image for ``t < image_steps``, then the blank frame: the constant
``time.blank`` in the normalised input space, 0.5 as released, 0 by default); the readout
reads the last layer's output from ``t-1``. Feedforward unroll: a full feedforward pass per step
(layer ``k`` reads layer ``k-1`` at ``t``, the readout the last layer at ``t``), state and
feedback from ``t-1``. Zero initial states and outputs, kernels shared across time, full
backprop through time.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from space.arch import Arch, LayerArch
from space.graph import LayerShape, layer_shapes
from space.inventory import LayerInventory, inventory
from space.nn.cells.base import CellModule, State
from space.nn.decoders import Decoder
from space.nn.init import init_weights
from space.nn.layers import SameConv, activation, make_conv, resize
from space.nn.registry import build_cell


class ModelOutput(NamedTuple):
    """``logits``: ``[T, B, classes]`` (every step); ``decoded``: ``[B, classes]`` (the readout
    decoder applied); ``features``: layer name -> ``[T, B, C, H, W]`` outputs when asked for."""

    logits: Tensor
    decoded: Tensor
    features: dict[str, Tensor] | None = None


class Layer(nn.Module):
    """One node: conv, feedback projections, cell, post conv, residual, activation, pool
    (the order of ``LayerArch``). Submodule names are the inventory's conv names."""

    def __init__(
        self,
        layer: LayerArch,
        shape: LayerShape,
        inv: LayerInventory,
        index: dict[str, int],
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.size = shape.size
        self.align_corners = align_corners
        self.conv = make_conv(inv.conv("conv"), in_size=shape.in_size)
        self.act = activation(layer.activation)
        self.feedback = nn.ModuleList(
            make_conv(inv.conv(f"feedback.{i}")) for i in range(len(shape.feedback))
        )
        self.fb_entries = [g.entry for g in shape.feedback]
        self.fb_acts = [activation(g.activation) for g in shape.feedback]
        self.fb_sources = [[index[s] for s in g.sources] for g in shape.feedback]
        self.cell = build_cell(layer.cell, shape, inv)
        self.post = make_conv(inv.conv("post")) if inv.has("post") else None
        self.residual = layer.residual
        self.residual_proj = (
            make_conv(inv.conv("residual_proj"), in_size=shape.in_size)
            if inv.has("residual_proj")
            else None
        )
        self.post_act = activation(layer.post_activation)
        self.pool = layer.pool
        self.out_channels, self.out_size = shape.out_channels, shape.out_size

    def project_feedback(self, outputs: list[Tensor]) -> dict[str, Tensor]:
        """Each group: resize its sources, concat, project, activate; summed per entry."""
        entries: dict[str, Tensor] = {}
        for conv, entry, act, sources in zip(
            self.feedback, self.fb_entries, self.fb_acts, self.fb_sources, strict=True
        ):
            parts = [resize(outputs[j], self.size, self.align_corners) for j in sources]
            fb = act(conv(parts[0] if len(parts) == 1 else torch.cat(parts, 1)))
            entries[entry] = entries[entry] + fb if entry in entries else fb
        return entries

    def forward(
        self, r: Tensor, fb_from: list[Tensor], state: State, x_pre: Tensor | None = None
    ) -> tuple[Tensor, State]:
        """One step; ``fb_from``: every layer's output at ``t-1``; ``x_pre``: ``conv(r)``
        when already computed."""
        x = self.conv(r) if x_pre is None else x_pre
        fb = self.project_feedback(fb_from) if self.fb_entries else {}
        if "input" in fb:
            x = x + fb["input"]
        x = self.act(x)
        r_cell = resize(r, self.size, self.align_corners) if self.cell.uses_residual else r
        fb_out = fb.get("out")
        if self.cell.takes_out_feedback:
            y, state = self.cell(x, r_cell, state, fb.get("cell"), fb_out)
        else:
            y, state = self.cell(x, r_cell, state)
            if fb_out is not None:
                y = y + fb_out
        if self.post is not None:
            y = self.post(y)
        if self.residual:
            y = y + (self.residual_proj(r) if self.residual_proj is not None else r)
        y = self.post_act(y)
        if self.pool > 1:
            y = F.max_pool2d(y, self.pool, self.pool, ceil_mode=True)
        return y, state


class Readout(nn.Module):
    """``fc``: global average pool then linear; ``conv``: conv (SAME or VALID padding) to the
    classes then global average pool. Applied to every step at once."""

    def __init__(self, arch: Arch, inv: LayerInventory, in_size: int) -> None:
        super().__init__()
        self.kind = arch.head.kind
        self.conv: nn.Module
        if self.kind == "fc":
            spec = inv.conv("fc")
            self.fc = nn.Linear(spec.in_channels, spec.out_channels, bias=spec.bias)
        elif arch.head.padding == "valid":
            spec = inv.conv("conv")
            self.conv = nn.Conv2d(spec.in_channels, spec.out_channels, spec.kernel, bias=spec.bias)
        else:
            self.conv = make_conv(inv.conv("conv"), in_size=in_size)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "fc":
            logits: Tensor = self.fc(x.mean(dim=(-2, -1)))
            return logits
        pooled: Tensor = self.conv(x).mean(dim=(-2, -1))
        return pooled


class ConvRNN(nn.Module):
    """A frozen :class:`~space.arch.Arch` as a torch module; ``forward(images)`` -> ModelOutput."""

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        self.arch = arch
        self.shapes = layer_shapes(arch)
        self.inventory = inventory(arch)
        index = {layer.name: i for i, layer in enumerate(arch.layers)}
        corners = arch.resize.align_corners
        self.layers = nn.ModuleDict(
            {
                layer.name: Layer(layer, shape, inv, index, corners)
                for layer, shape, inv in zip(arch.layers, self.shapes, self.inventory, strict=False)
            }
        )
        self.readout = Readout(arch, self.inventory[-1], self.shapes[-1].out_size)
        self.decoder = Decoder(arch)
        self.blank = arch.time.blank
        self.steps = arch.time.steps
        self.image_steps = arch.time.image_steps
        self.biological = arch.time.unroll == "biological"
        self.input_channels, self.input_size = arch.input.channels, arch.input.size
        init_weights(self, self.layers.values(), self.readout, arch)

    def _check(self, images: Tensor) -> None:
        expected = (self.input_channels, self.input_size, self.input_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"images must have shape [B, {expected[0]}, {expected[1]}, {expected[2]}] "
                f"(arch.input), got {list(images.shape)}"
            )

    def forward(self, images: Tensor, return_features: bool = False) -> ModelOutput:
        self._check(images)
        layers = [cast(Layer, m) for m in self.layers.values()]
        # per-forward work shared by every step (cropped kernels, fused conv weights)
        preparable = [m for m in self.modules() if isinstance(m, CellModule | SameConv)]
        for module in preparable:
            module.prepare()
        try:
            return self._unroll(layers, images, return_features)
        finally:
            for module in preparable:
                module.release()

    def _unroll(self, layers: list[Layer], images: Tensor, return_features: bool) -> ModelOutput:
        batch = images.shape[0]
        states = [layer.cell.init_state(batch, images) for layer in layers]
        zeros = [images.new_zeros(batch, m.out_channels, m.out_size, m.out_size) for m in layers]
        prev = zeros
        # the first conv sees only two distinct frames: compute each once (exactly equivalent)
        first = layers[0]
        x_image = first.conv(images)
        blank = torch.full_like(images, self.blank) if self.steps > self.image_steps else images
        x_blank = first.conv(blank) if self.steps > self.image_steps else x_image
        readout_in: list[Tensor] = []
        features: list[list[Tensor]] = [[] for _ in layers]
        for t in range(self.steps):
            shown = t < self.image_steps
            frame, x0 = (images, x_image) if shown else (blank, x_blank)
            outs: list[Tensor] = []
            for k, layer in enumerate(layers):
                source = prev if self.biological else outs
                r = frame if k == 0 else source[k - 1]
                out, states[k] = layer(r, prev, states[k], x0 if k == 0 else None)
                outs.append(out)
                if return_features:
                    features[k].append(out)
            readout_in.append(prev[-1] if self.biological else outs[-1])
            prev = outs
        stacked = torch.stack(readout_in)  # [T, B, C, H, W]
        logits = self.readout(stacked.flatten(0, 1)).unflatten(0, (self.steps, batch))
        feats = None
        if return_features:
            feats = {name: torch.stack(f) for name, f in zip(self.layers, features, strict=True)}
        return ModelOutput(logits, self.decoder(logits), feats)

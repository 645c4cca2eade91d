"""Model features for the neural fit: every chosen layer's output at every model step a
response bin maps to, reduced to a bounded width, averaged over the bin's steps.

Stimuli: prepared for the arch's input as training images are (:func:`workers.data.preprocess`:
channel conversion, centre crop and bilinear resize to ``input.size``, normalisation with the
training split's mean and std). Without a preprocessing record (an untrained model, bare
weights), the stimuli's own per-channel mean and std are used, as ``prepare`` measures them on
a training split.

Width: a layer's output ``[C, H, W]`` at one step becomes ``C * g * g`` features by adaptive
average pooling to the largest ``g x g`` grid with ``C * g * g <= max_features`` (``g <= H``):
the coarse retinotopic layout is kept (a V4 or IT neuron's receptive field is a region of the
image, which a linear readout of a pooled grid can still express) at a fixed, small cost. When
the channels alone exceed ``max_features`` (``g = 0``), the globally pooled ``C`` channels are
projected by a fixed Gaussian matrix ``[C, max_features] / sqrt(max_features)`` drawn from
``(settings.seed, layer name)``: a random projection keeps every channel's contribution (a
subsample would drop most) and preserves distances (Johnson-Lindenstrauss), so the linear fit
loses little. Outputs are read by forward hooks on the layer modules and reduced at once: no
``[T, B, C, H, W]`` stack is ever held.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from space.arch import Arch
from space.spec import NeuralFitSettings
from workers.data.prepare import preprocess
from workers.neural.data import NeuralData, NeuralDataError

BATCH = 64


def select_layers(arch: Arch, settings: NeuralFitSettings) -> list[str]:
    """Layer names of ``settings.layers`` (``cells``: layers with a cell, or every layer when
    the arch has none)."""
    names = [layer.name for layer in arch.layers]
    if settings.layers == "all":
        return names
    if settings.layers == "cells":
        cells = [layer.name for layer in arch.layers if layer.cell.kind != "none"]
        return cells or names
    unknown = [n for n in settings.layers if n not in names]
    if unknown:
        raise NeuralDataError(
            "neural.layers",
            f"no layer {unknown[0]!r} in the arch; its layers are {', '.join(names)}",
            unknown[0],
        )
    return list(settings.layers)


def bin_steps(arch: Arch, data: NeuralData, settings: NeuralFitSettings) -> dict[int, list[int]]:
    """Model steps of every response bin; an error naming ``steps_per_bin`` / ``offset`` when
    the last bin maps past the model's ``time.steps``."""
    steps = {b: list(settings.bin_steps(b)) for b in range(data.bins)}
    last = steps[data.bins - 1][-1]
    if last >= arch.time.steps:
        raise NeuralDataError(
            "neural.steps_per_bin",
            f"{data.bins} bins of {settings.steps_per_bin} step(s) from offset "
            f"{settings.offset} need model steps up to {last}, but the arch runs "
            f"{arch.time.steps} steps (0..{arch.time.steps - 1}); lower steps_per_bin or "
            "offset, or fit fewer bins",
            last,
        )
    return steps


def stimuli_preprocessing(arch: Arch, data: NeuralData) -> dict[str, Any]:
    """A preprocessing record for ``arch`` with the stimuli's own per-channel statistics."""
    c, size = arch.input.channels, arch.input.size
    unit = {"input_size": size, "channels": c, "mean": [0.0] * c, "std": [1.0] * c}
    x = preprocess(data.stimuli, unit)  # pixel / 255, converted and resized
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return {**unit, "mean": mean.tolist(), "std": std.tolist(), "dataset": data.path}


def _check_preprocessing(arch: Arch, record: dict[str, Any]) -> None:
    for key, want in (("input_size", arch.input.size), ("channels", arch.input.channels)):
        if key in record and int(record[key]) != want:
            raise NeuralDataError(
                f"preprocessing.{key}",
                f"the weights were trained on {key} {record[key]} but the arch takes {want}",
                record[key],
            )


def grid_side(channels: int, size: int, max_features: int) -> int:
    """The pooling grid's side (0: global pool then random projection)."""
    g = int((max_features / channels) ** 0.5)
    while g > 0 and channels * g * g > max_features:
        g -= 1
    return min(g, size)


def projection(channels: int, width: int, seed: int, layer: str) -> Tensor:
    """The fixed ``[channels, width]`` Gaussian projection of ``layer`` (seeded)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(layer.encode()))
    matrix: Tensor = torch.randn(channels, width, generator=gen) / width**0.5
    return matrix


class _Enough(Exception):
    """Raised by the last layer's hook after the last step a bin needs: later steps (and the
    readout) cannot change the features, so the unroll stops there."""


class _Reducer:
    """Forward hook of one layer: reduces its output at the wanted steps, sums per bin."""

    def __init__(
        self, name: str, steps: dict[int, list[int]], settings: NeuralFitSettings, last: bool
    ):
        self.name = name
        self.last_step = max(s for ss in steps.values() for s in ss) if last else None
        self.settings = settings
        self.step_bins: dict[int, list[int]] = {}
        for b, ss in steps.items():
            for s in ss:
                self.step_bins.setdefault(s, []).append(b)
        self.bins = len(steps)
        self.t = 0
        self.sums: list[Tensor | None] = [None] * self.bins
        self.proj: Tensor | None = None

    def start(self) -> None:
        self.t = 0
        self.sums = [None] * self.bins

    def reduce(self, y: Tensor) -> Tensor:
        c, size = y.shape[1], y.shape[2]
        g = grid_side(c, size, self.settings.max_features)
        if g > 0:
            return F.adaptive_avg_pool2d(y, g).flatten(1)
        pooled = y.mean(dim=(2, 3))
        if self.proj is None:
            self.proj = projection(c, self.settings.max_features, self.settings.seed, self.name)
        return pooled @ self.proj.to(pooled.device, pooled.dtype)

    def __call__(self, module: nn.Module, args: Any, output: Any) -> None:
        bins = self.step_bins.get(self.t)
        self.t += 1
        if bins:
            y = output[0] if isinstance(output, tuple) else output
            r = self.reduce(y.detach().float())
            for b in bins:
                prev = self.sums[b]
                self.sums[b] = r if prev is None else prev + r
        if self.last_step is not None and self.t > self.last_step:
            raise _Enough

    def result(self) -> Tensor:
        """``[bins, B, F]``: the mean over each bin's steps."""
        n = self.settings.steps_per_bin
        return torch.stack([s / n for s in self.sums if s is not None])


def extract_features(
    model: nn.Module,
    arch: Arch,
    data: NeuralData,
    settings: NeuralFitSettings,
    preprocessing: dict[str, Any] | None = None,
    *,
    device: str | torch.device | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, np.ndarray], dict[int, list[int]]]:
    """``({layer: [bins, N, F] float32}, {bin: model steps})`` for the chosen layers;
    ``on_batch(done, total)`` after each batch of stimuli."""
    layers = select_layers(arch, settings)
    steps = bin_steps(arch, data, settings)
    record = preprocessing or stimuli_preprocessing(arch, data)
    _check_preprocessing(arch, record)
    if device is None:
        device = next(model.parameters()).device
    modules = {name: model.get_submodule(f"layers.{name}") for name in layers}
    order = [layer.name for layer in arch.layers]
    final = max(layers, key=order.index)  # the last chosen layer to run within a step
    reducers = {name: _Reducer(name, steps, settings, name == final) for name in layers}
    handles = [modules[name].register_forward_hook(reducers[name]) for name in layers]
    parts: dict[str, list[Tensor]] = {name: [] for name in layers}
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for i in range(0, data.n_images, BATCH):
                x = preprocess(data.stimuli[i : i + BATCH], record, device)
                for reducer in reducers.values():
                    reducer.start()
                with contextlib.suppress(_Enough):
                    # forward() itself, not __call__: a compiled model (nn.Module.compile)
                    # would trace the hooks and the early stop into its graph
                    model.forward(x)
                for name, reducer in reducers.items():
                    parts[name].append(reducer.result().cpu())
                if on_batch is not None:
                    on_batch(min(i + BATCH, data.n_images), data.n_images)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    # float32 while held (layers x bins x N x F can be large); each fit works in float64
    features = {name: torch.cat(p, dim=1).float().numpy() for name, p in parts.items()}
    return features, steps

"""The torch side of ``space``: build a trainable ConvRNN from a frozen :class:`Arch`.

``build_model(arch)`` returns a :class:`ConvRNN`; ``model(images)`` returns a
:class:`ModelOutput` with per-step ``logits`` ``[T, B, classes]`` and ``decoded`` ``[B, classes]``.
"""

from __future__ import annotations

import torch

from space.arch import Arch
from space.nn.network import ConvRNN, ModelOutput
from space.nn.registry import cell_builders, register_cell

__all__ = ["ConvRNN", "ModelOutput", "build_model", "cell_builders", "register_cell"]


def build_model(arch: Arch, *, compile: bool = False, seed: int | None = None) -> ConvRNN:
    """Build the torch model of ``arch``.

    ``seed`` makes the initial weights reproducible without touching the global RNG;
    ``compile`` compiles the module in place (``nn.Module.compile``), so it stays a ConvRNN.
    """
    if seed is None:
        model = ConvRNN(arch)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = ConvRNN(arch)
    if compile:
        model.compile()
    return model

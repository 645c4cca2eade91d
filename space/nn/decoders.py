"""Temporal decoders: per-step logits ``[T, B, K]`` -> decoded logits ``[B, K]``.

Every decoder but ``last`` reads a window of steps ``start <= t < end`` only
(``space.graph.decode_window``: by default from the readout's first sight of the image, as the
released code, whose earlier steps cannot depend on the image). ``last``: the last step;
``mean``: the mean over the window; ``max_conf``: per sample, the window's step of maximal
softmax confidence; ``thresh``: per sample, the window's first step whose max softmax
probability reaches the threshold, else its most confident step. The chosen step's logits are
returned (gradients flow through them). The confidence is ``softmax(beta * logits)`` with
``beta = 1 / temperature``, or a learned ``beta`` (see ``space.arch.Temperature``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from space.arch import Arch, LastReadout, MaxConfReadout, MeanReadout, Readout, ThreshReadout
from space.graph import decode_window


def _pick(logits: Tensor, steps: Tensor) -> Tensor:
    """``logits[steps[b], b]`` for every sample ``b``."""
    index = steps.view(1, -1, 1).expand(1, logits.shape[1], logits.shape[2])
    return logits.gather(0, index).squeeze(0)


def _confidence(logits: Tensor, beta: Tensor | float) -> Tensor:
    """Max softmax probability per step and sample ``[T, B]`` (no gradient: it only chooses)."""
    scaled = logits.detach().float() * (beta.detach() if isinstance(beta, Tensor) else beta)
    return torch.softmax(scaled, dim=-1).amax(dim=-1)


def _beta(readout: MaxConfReadout | ThreshReadout) -> float:
    return 1.0 if readout.temperature == "learned" else 1.0 / readout.temperature


def decode(
    logits: Tensor,
    readout: Readout,
    window: tuple[int, int] | None = None,
    beta: Tensor | float | None = None,
) -> Tensor:
    """Decode ``logits`` ``[T, B, K]``; ``window``: the steps ``[start, end)`` to read (default:
    the readout's own, which must then be numeric); ``beta``: the inverse temperature (default:
    the readout's)."""
    if isinstance(readout, LastReadout):
        return logits[-1]
    if window is None:
        if isinstance(readout.start, str):
            raise ValueError(f"decode: a readout with start {readout.start!r} needs the window")
        window = (readout.start, logits.shape[0] if readout.end is None else readout.end)
    start, end = window
    logits = logits[start:end]
    if isinstance(readout, MeanReadout):
        return logits.mean(dim=0)
    scale = _beta(readout) if beta is None else beta
    conf = _confidence(logits, scale)
    if isinstance(readout, MaxConfReadout):
        steps = conf.argmax(dim=0)
    elif isinstance(readout, ThreshReadout):
        passed = conf >= readout.threshold
        # argmax on a bool tensor (as int) finds the first True; rows with none fall back
        first = passed.int().argmax(dim=0)
        steps = torch.where(passed.any(dim=0), first, conf.argmax(dim=0))
    else:
        raise ValueError(f"unknown readout {readout!r}")
    return _pick(logits, steps)


class Decoder(nn.Module):
    """The arch's decoder with its window resolved; owns the learned inverse temperature
    (parameter ``beta``, shape ``(1,)``) when the readout asks for one."""

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        self.readout = arch.time.readout
        self.window = decode_window(arch)
        learned = getattr(self.readout, "temperature", None) == "learned"
        # uniform in [0, 1) as released (tf.initializers.random_uniform)
        self.beta = nn.Parameter(torch.rand(1)) if learned else None

    def forward(self, logits: Tensor) -> Tensor:
        return decode(logits, self.readout, self.window, self.beta)

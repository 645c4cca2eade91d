"""Temporal decoders: per-step logits ``[T, B, K]`` -> decoded logits ``[B, K]``.

``last``: the last step; ``mean``: mean over steps ``start <= t < end``; ``max_conf``: per sample,
the step of maximal softmax confidence; ``thresh``: per sample, the first step whose max softmax
probability reaches the threshold, else the most confident step. The chosen step's logits are
returned (gradients flow through them).
"""

from __future__ import annotations

import torch
from torch import Tensor

from space.arch import LastReadout, MaxConfReadout, MeanReadout, Readout, ThreshReadout


def _pick(logits: Tensor, steps: Tensor) -> Tensor:
    """``logits[steps[b], b]`` for every sample ``b``."""
    index = steps.view(1, -1, 1).expand(1, logits.shape[1], logits.shape[2])
    return logits.gather(0, index).squeeze(0)


def _confidence(logits: Tensor) -> Tensor:
    return torch.softmax(logits.detach().float(), dim=-1).amax(dim=-1)  # [T, B]


def decode(logits: Tensor, readout: Readout) -> Tensor:
    if isinstance(readout, LastReadout):
        return logits[-1]
    if isinstance(readout, MeanReadout):
        return logits[readout.start : readout.end].mean(dim=0)
    if isinstance(readout, MaxConfReadout):
        return _pick(logits, _confidence(logits).argmax(dim=0))
    if isinstance(readout, ThreshReadout):
        conf = _confidence(logits)
        passed = conf >= readout.threshold
        # argmax on a bool tensor (as int) finds the first True; rows with none fall back
        first = passed.int().argmax(dim=0)
        steps = torch.where(passed.any(dim=0), first, conf.argmax(dim=0))
        return _pick(logits, steps)
    raise ValueError(f"unknown readout {readout!r}")

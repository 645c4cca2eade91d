"""Neural predictivity (issue 14): fit a model's layers and time steps to recorded neurons.

- :func:`load_neural` (``data``): a checked ``neural:PATH`` file (numpy only);
- :mod:`ceiling`: the data's split-half reliability, Spearman-Brown corrected;
- :mod:`fit`: cross-validated PLS, held-out Pearson r per neuron, median per region;
- :mod:`features`: the model's per-layer, per-step outputs for the stimuli (torch);
- :func:`score_model` (``score``): all of it for one model -> :class:`NeuralScores`;
- :func:`make_synthetic` (``synthetic``): data with a known ceiling and a known best layer/bin.

torch and scikit-learn are imported on first use of the names that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from workers.neural.data import NeuralData, NeuralDataError, load_neural

if TYPE_CHECKING:
    from workers.neural.score import FitRow, NeuralScores, score_model
    from workers.neural.synthetic import make_synthetic

__all__ = [
    "FitRow",
    "NeuralData",
    "NeuralDataError",
    "NeuralScores",
    "load_neural",
    "make_synthetic",
    "score_model",
]

_LAZY = {
    "FitRow": "workers.neural.score",
    "NeuralScores": "workers.neural.score",
    "score_model": "workers.neural.score",
    "make_synthetic": "workers.neural.synthetic",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

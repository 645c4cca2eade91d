"""The data's own reliability: how well the responses predict themselves (the ceiling).

Estimator (per neuron and bin), as Brain-Score's internal consistency:

1. :data:`SPLITS` random splits of the repetitions into two disjoint halves of ``reps // 2``
   each (with an odd count one repetition sits out, a different one per split by chance);
   seeded by ``settings.seed``;
2. for each split, the Pearson r over images between the two halves' mean responses;
3. ``r_half`` = the mean of these r over the splits;
4. Spearman-Brown: ``rho = k r_half / (1 + (k - 1) r_half)`` with ``k = reps / (reps // 2)``
   (``2 r / (1 + r)`` for an even count), the reliability of the average of *all* repetitions
   (the quantity the model is fit to); negative ``r_half`` stays negative;
5. the ceiling of a region and bin is the median of ``rho`` over the region's neurons.

For signal variance ``s`` and noise variance ``n`` per repetition (independent across
repetitions), a half averages ``reps / 2`` repetitions, so ``E[r_half] ~ s / (s + 2 n / reps)``
and ``rho = s / (s + n / reps)``: :func:`analytic_ceiling`.

The floor: a region and bin whose ceiling is below ``max(CEILING_FLOOR, 3 * null_se)`` has no
normalised fit (null). ``null_se`` is the standard error of the ceiling when the responses are
pure noise: a Pearson r over N images has sd ``1 / sqrt(N - 3)`` under the null, Spearman-Brown
doubles it near 0, and a median over ``k`` neurons multiplies by ``sqrt(pi / 2) / sqrt(k)``
(averaging over splits only lowers it, so this is conservative).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from space.spec import CEILING_FLOOR
from workers.neural.data import NeuralData

SPLITS = 10


def pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between matching columns of ``a`` and ``b`` ``[N, K]`` (axis 0 is the sample);
    0 where either column is constant (no information, not a NaN)."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    num = (a * b).sum(axis=0)
    den = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    ok = den > 1e-12 * max(1.0, float(np.abs(num).max(initial=0.0)))
    out = np.zeros(a.shape[1], dtype=np.float64)
    np.divide(num, den, out=out, where=ok)
    return np.clip(out, -1.0, 1.0)


def spearman_brown(r: np.ndarray, k: float = 2.0) -> np.ndarray:
    """``k r / (1 + (k - 1) r)``: the reliability of an average ``k`` times as long as the
    halves that correlate ``r`` (``k = 2``: ``2 r / (1 + r)``)."""
    den = 1.0 + (k - 1.0) * r
    return np.where(den > 1e-12, k * r / np.maximum(den, 1e-12), -1.0)


def analytic_ceiling(signal_var: float, noise_var: float, reps: int) -> float:
    """The ceiling the estimator targets: ``s / (s + n / reps)`` (see the module docstring)."""
    return signal_var / (signal_var + noise_var / reps)


def null_se(n_images: int, neurons: int) -> float:
    """Standard error of the ceiling of pure noise (see the module docstring)."""
    return math.sqrt(math.pi / 2) * 2.0 / math.sqrt(max(n_images - 3, 1)) / math.sqrt(neurons)


def neuron_reliability(responses: np.ndarray, seed: int, splits: int = SPLITS) -> np.ndarray:
    """``[neurons, bins]`` Spearman-Brown corrected split-half reliability of
    ``responses`` ``[reps, N, neurons, bins]`` (at least two repetitions). NaN marks a missing
    repetition: each half averages the repetitions it has, and an image is left out of a
    neuron's correlation when one half has none of its repetitions."""
    reps, n, neurons, bins = responses.shape
    half = reps // 2
    rng = np.random.default_rng(seed)
    total = np.zeros(neurons * bins)
    missing = bool(np.isnan(responses).any())
    for _ in range(splits):
        order = rng.permutation(reps)
        if missing:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a half with no repetition
                a = np.nanmean(responses[order[:half]], axis=0).reshape(n, -1)
                b = np.nanmean(responses[order[half : 2 * half]], axis=0).reshape(n, -1)
            total += pearson_complete(a, b)
        else:
            a = responses[order[:half]].mean(axis=0).reshape(n, -1)
            b = responses[order[half : 2 * half]].mean(axis=0).reshape(n, -1)
            total += pearson_columns(a, b)
    return spearman_brown(total / splits, reps / half).reshape(neurons, bins)


def pearson_complete(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`pearson_columns` over the rows where both columns are finite, column by column
    (0 for a column with fewer than 3 such rows)."""
    both = np.isfinite(a) & np.isfinite(b)
    count = both.sum(axis=0)
    a, b = np.where(both, a, 0.0), np.where(both, b, 0.0)
    a = np.where(both, a - a.sum(axis=0) / np.maximum(count, 1), 0.0)
    b = np.where(both, b - b.sum(axis=0) / np.maximum(count, 1), 0.0)
    num = (a * b).sum(axis=0)
    den = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    ok = (count >= 3) & (den > 1e-12 * max(1.0, float(np.abs(num).max(initial=0.0))))
    out = np.zeros(a.shape[1], dtype=np.float64)
    np.divide(num, den, out=out, where=ok)
    return np.clip(out, -1.0, 1.0)


@dataclass(frozen=True)
class Ceiling:
    """Ceiling per region and bin (``values[region][b]``), the floor per region, and whether
    the values were computed from repetitions or given."""

    values: dict[str, list[float]]
    floors: dict[str, float]
    source: str  # "split-half" or "given"

    def value(self, region: str, b: int) -> float | None:
        """The ceiling, or ``None`` when it is below the floor (no normalised fit)."""
        v = self.values[region][b]
        return v if v >= self.floors[region] else None

    def normalize(self, raw: float, region: str, b: int) -> float | None:
        c = self.value(region, b)
        return None if c is None else raw / c

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {
                "region": region,
                "bin": b,
                "value": v,
                "floor": self.floors[region],
                "usable": v >= self.floors[region],
                "source": self.source,
            }
            for region, values in self.values.items()
            for b, v in enumerate(values)
        ]


def compute_ceiling(data: NeuralData, seed: int = 0, splits: int = SPLITS) -> Ceiling:
    """The split-half ceiling of every region and bin of ``data`` (which has repetitions)."""
    rel = neuron_reliability(data.responses, seed, splits)
    values: dict[str, list[float]] = {}
    floors: dict[str, float] = {}
    for region in data.region_names:
        idx = data.region_index(region)
        values[region] = [float(v) for v in np.median(rel[idx], axis=0)]
        floors[region] = max(CEILING_FLOOR, 3.0 * null_se(data.n_images, len(idx)))
    return Ceiling(values, floors, "split-half")


def given_ceiling(data: NeuralData, value: float) -> Ceiling:
    """The user's ceiling for every region and bin (floor: :data:`CEILING_FLOOR`)."""
    values = {region: [float(value)] * data.bins for region in data.region_names}
    floors = dict.fromkeys(data.region_names, CEILING_FLOOR)
    return Ceiling(values, floors, "given")

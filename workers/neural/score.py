"""``score_model``: one model's neural fit, every chosen layer x response bin x region.

The result (:class:`NeuralScores`) is what a trial records: ``to_json()`` is the trial's
``neural`` column and ``objective`` its ``neural_fit`` result key; ``None`` when no bin of the
objective's region has a ceiling above the floor (the data hold no reliable signal to fit).

The objective (``settings.selection``):

- ``nested`` (default): the images are split in two halves (stratified by label, seeded); the
  layer and bin are chosen by their cross-validated fit on one half and the choice is scored,
  cross-validated, on the other; both ways, averaged. The choice never sees the images it is
  scored on, so on data without image-related signal the objective is centred near zero.
- ``max``: the best normalised cell of the full table. The maximum of many noisy scores is
  biased upward, more so with more layers and bins: it favours deep, long-unrolled candidates.

Both are reported (``selection`` in the JSON), with the cells the nested halves chose.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from space.arch import Arch
from space.spec import NeuralFitSettings
from workers.neural.ceiling import Ceiling, compute_ceiling, given_ceiling
from workers.neural.data import NeuralData, NeuralDataError
from workers.neural.fit import fit_layer_bin, split_kind

if TYPE_CHECKING:
    from collections.abc import Callable

    from torch import nn

NEURAL_FORMAT = "convnas.neural/1"


@dataclass(frozen=True)
class FitRow:
    """One layer, region and response bin: median held-out Pearson r (``raw``) and
    ``raw / ceiling`` (``normalized``, null below the ceiling floor)."""

    layer: str
    region: str
    bin: int
    bin_ms: float | None
    steps: list[int]
    raw: float
    normalized: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "region": self.region,
            "bin": self.bin,
            "bin_ms": self.bin_ms,
            "steps": list(self.steps),
            "raw": self.raw,
            "normalized": self.normalized,
        }


@dataclass(frozen=True)
class NeuralScores:
    """The fit of one model to one neural data set (see the module docstring)."""

    rows: list[FitRow]
    ceiling: list[dict[str, Any]]
    best: dict[str, Any] | None
    objective: float | None
    region: str
    seconds: float
    selection: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The trial's ``neural`` column: plain JSON (floats, strings, lists, null)."""
        return {
            "format": NEURAL_FORMAT,
            "region": self.region,
            "objective": self.objective,
            "best": self.best,
            "selection": self.selection,
            "rows": [row.to_json() for row in self.rows],
            "ceiling": self.ceiling,
            "seconds": self.seconds,
            "timing": self.timing,
            "settings": self.settings,
            "data": self.data,
        }


def objective_region(data: NeuralData, settings: NeuralFitSettings) -> str:
    """``settings.region``, or the only region of the data; an error naming the choices else."""
    names = data.region_names
    if settings.region is None:
        if len(names) == 1:
            return names[0]
        raise NeuralDataError(
            "neural.region",
            f"the data have several regions ({', '.join(names)}): name the objective's region",
        )
    if settings.region not in names:
        raise NeuralDataError(
            "neural.region",
            f"no such region in the data; the data have {', '.join(names)}",
            settings.region,
        )
    return settings.region


def _best(rows: list[FitRow], region: str) -> dict[str, Any] | None:
    scored = [r for r in rows if r.region == region and r.normalized is not None]
    if not scored:
        return None
    top = max(scored, key=lambda r: (r.normalized, r.raw))
    return {
        "layer": top.layer,
        "bin": top.bin,
        "bin_ms": top.bin_ms,
        "region": region,
        "normalized": top.normalized,
        "raw": top.raw,
    }


def _halves(n: int, labels: np.ndarray | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint halves of ``n`` images, each label split evenly between them (seeded)."""
    rng = np.random.default_rng([seed, 0x4E57])  # apart from the folds' own stream
    groups = (
        [np.arange(n)]
        if labels is None
        else [np.flatnonzero(labels == v) for v in np.unique(labels)]
    )
    first: list[int] = []
    flip = 0
    for group in groups:
        order = rng.permutation(group)
        first.extend(order[flip::2])
        flip = (flip + len(order)) % 2  # odd groups alternate which half gets the extra image
    mask = np.zeros(n, dtype=bool)
    mask[first] = True
    return np.flatnonzero(mask), np.flatnonzero(~mask)


def nested_objective(
    features: dict[str, np.ndarray],
    data: NeuralData,
    settings: NeuralFitSettings,
    region: str,
    ceil: Ceiling,
) -> dict[str, Any]:
    """The ``nested`` objective of ``region`` (see the module docstring): per direction, the
    cell chosen on one half and its normalised fit on the other; their mean. ``objective``
    None when no bin has a usable ceiling, or when a half has fewer images than 2 x folds."""
    usable = [b for b in range(data.bins) if ceil.value(region, b) is not None]
    mean = data.mean_responses()[:, data.region_index(region), :]
    halves = _halves(len(mean), data.labels, settings.seed)
    if not usable or min(len(h) for h in halves) < 2 * settings.folds:
        return {"method": "nested", "objective": None, "halves": []}
    labels = data.labels

    def fit(layer: str, b: int, rows: np.ndarray) -> float:
        sub = None if labels is None else labels[rows]
        # per split: pooled held-out predictions are biased below zero on unrelated data
        return fit_layer_bin(features[layer][b][rows], mean[rows, :, b], sub, settings, True)

    halves_out: list[dict[str, Any]] = []
    for pick, judge in (halves, halves[::-1]):
        scored = [
            ((ceil.normalize(raw, region, b) or 0.0, raw), layer, b)
            for layer in features
            for b in usable
            for raw in (fit(layer, b, pick),)
        ]
        (_, chosen_raw), layer, b = max(scored, key=lambda t: t[0])
        raw = fit(layer, b, judge)
        halves_out.append(
            {
                "layer": layer,
                "bin": b,
                "chosen_raw": chosen_raw,
                "raw": raw,
                "normalized": ceil.normalize(raw, region, b),
            }
        )
    values = [h["normalized"] for h in halves_out if h["normalized"] is not None]
    objective = float(np.mean(values)) if len(values) == len(halves_out) else None
    return {"method": "nested", "objective": objective, "halves": halves_out}


def score_features(
    features: dict[str, np.ndarray],
    steps: dict[int, list[int]],
    data: NeuralData,
    settings: NeuralFitSettings,
    *,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[FitRow], Ceiling, str]:
    """The fit table from already extracted features (``layer -> [bins, N, F]``)."""
    region = objective_region(data, settings)
    ceil = (
        given_ceiling(data, settings.ceiling)
        if settings.ceiling
        else compute_ceiling(data, settings.seed)
    )
    mean = data.mean_responses()
    rows: list[FitRow] = []
    for layer, feats in features.items():
        if progress is not None:
            progress(layer)
        for b in range(data.bins):
            for name in data.region_names:
                idx = data.region_index(name)
                raw = fit_layer_bin(feats[b], mean[:, idx, b], data.labels, settings)
                c = ceil.value(name, b)
                rows.append(
                    FitRow(
                        layer=layer,
                        region=name,
                        bin=b,
                        bin_ms=data.bin_label(b),
                        steps=steps[b],
                        raw=raw,
                        normalized=ceil.normalize(raw, name, b) if c is not None else None,
                    )
                )
    return rows, ceil, region


def score_model(
    model: nn.Module,
    arch: Arch,
    data: NeuralData,
    settings: NeuralFitSettings,
    preprocessing: dict[str, Any] | None = None,
    *,
    device: str | None = None,
    progress: Callable[[str], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> NeuralScores:
    """Fit ``model`` (an :class:`~space.nn.ConvRNN` of ``arch``) to ``data``.

    ``preprocessing`` is the training data set's record (``Dataset.preprocessing()``): the
    stimuli are prepared exactly as the training images were (channels, crop and resize,
    normalisation with the training statistics). ``None`` (an untrained model, weights without
    a record) normalises with the stimuli's own per-channel mean and std.
    ``device``: where the stimuli go (default: the model's device). ``progress`` is called with
    each layer's name as its fit starts, ``on_batch(done, total)`` as the stimuli go through
    the model.
    """
    from workers.neural.features import extract_features

    start = time.perf_counter()
    features, steps = extract_features(
        model, arch, data, settings, preprocessing, device=device, on_batch=on_batch
    )
    extracted = time.perf_counter()
    rows, ceil, region = score_features(features, steps, data, settings, progress=progress)
    best = _best(rows, region)
    maximum = None if best is None else best["normalized"]
    nested = nested_objective(features, data, settings, region, ceil)
    seconds = time.perf_counter() - start
    return NeuralScores(
        rows=rows,
        ceiling=ceil.to_json(),
        best=best,
        objective=nested["objective"] if settings.selection == "nested" else maximum,
        region=region,
        seconds=seconds,
        selection={"method": settings.selection, "max": maximum, "nested": nested},
        settings=settings.model_dump(),
        data={**data.describe(), "split": _split_text(data, settings)},
        timing={"features": extracted - start, "fit": seconds - (extracted - start)},
    )


def _split_text(data: NeuralData, settings: NeuralFitSettings) -> str:
    if settings.cv == "brainscore":
        return "brainscore: 10 random 90/10 splits (stratified where the labels allow)"
    return split_kind(data.labels, settings.folds)

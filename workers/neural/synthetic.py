"""Synthetic neural data with known truth (the machines here cannot download recordings).

``kind="model"``: a hidden model (``arch``, a preset or arch file, randomly initialised with
``model_seed``) sees procedural shape images (:func:`workers.data.shapes.generate`, labels =
shape = object); its layer ``layer`` at model step ``step`` (bin ``bin`` with one step per bin),
reduced exactly as the fit reduces features (:mod:`workers.neural.features`), is read out by a
fixed Gaussian matrix into ``neurons`` signals, each standardised over the images (signal
variance ``s = 1`` exactly). **Every** response bin carries that same signal plus independent
Gaussian noise of variance ``n = noise**2`` per repetition:
``responses[r, i, k, b] = signal[i, k] + noise * eps[r, i, k, b]``. So the responses are locked
to one model step, and a fit at other steps (bins) or layers can only match it as far as their
features resemble it.

``kind="noise"``: the responses are noise alone (``s = 0``): the true ceiling and fit are 0.

True values (returned, and what the tests check):

- ceiling (split-half, Spearman-Brown; :mod:`workers.neural.ceiling`): ``s / (s + n / reps)``;
- the best possible raw fit (the signal itself predicting the repetition average):
  ``sqrt(s / (s + n / reps)) = sqrt(ceiling)``, so the best normalised fit (``raw / ceiling``)
  is ``1 / sqrt(ceiling)`` under Brain-Score's convention (>= 1; see :mod:`space.neural`).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from space.arch import Arch
from space.neural import NeuralFitSettings
from workers.neural.ceiling import analytic_ceiling

DEFAULT_ARCH = "rgc_shallow"
DEFAULT_INPUT_SIZE = 128


def _arch(arch: str | Arch, input_size: int | None) -> tuple[Arch, str]:
    from space.arch import arch_from_data
    from space.presets import resolve_arch

    resolved, name = (resolve_arch(arch), arch) if isinstance(arch, str) else (arch, "arch")
    if input_size is not None and input_size != resolved.input.size:
        data = resolved.to_dict()
        data["input"] = {"size": input_size, "channels": resolved.input.channels}
        resolved = arch_from_data(data, "arch (synthetic input size)")
    return resolved, name


def hidden_signal(
    arch: Arch,
    stimuli: np.ndarray,
    layer: str,
    step: int,
    neurons: int,
    *,
    model_seed: int,
    seed: int,
    max_features: int,
) -> np.ndarray:
    """``[N, neurons]`` standardised readouts of ``layer`` at ``step`` of the hidden model."""
    from space.nn import build_model
    from workers.neural.data import NeuralData
    from workers.neural.features import extract_features

    model = build_model(arch, seed=model_seed)
    n = len(stimuli)
    probe = NeuralData(
        path="<synthetic>",
        stimuli=stimuli,
        responses=np.zeros((2, n, 1, step + 1)),
        regions=np.array(["all"]),
        bin_ms=None,
        labels=None,
        repeated=True,
    )
    settings = NeuralFitSettings(
        data="neural:<synthetic>", layers=[layer], max_features=max_features, seed=seed
    )
    feats, _ = extract_features(model, arch, probe, settings)
    x = feats[layer][step]
    x = x - x.mean(axis=0)
    rng = np.random.default_rng([seed, 1])
    signal = x @ rng.standard_normal((x.shape[1], neurons))
    signal -= signal.mean(axis=0)
    sd = signal.std(axis=0)
    if float(sd.min()) < 1e-9:
        raise ValueError(
            f"layer {layer} is constant over the images at step {step} (not reached yet?): "
            "choose a later bin or an earlier layer"
        )
    return np.asarray(signal / sd)


def make_synthetic(
    path: str | Path,
    *,
    kind: Literal["model", "noise"] = "model",
    arch: str | Arch = DEFAULT_ARCH,
    input_size: int | None = DEFAULT_INPUT_SIZE,
    layer: str = "conv4",
    bin: int = 5,
    bins: int = 8,
    noise: float = 1.0,
    reps: int = 4,
    n_images: int = 200,
    neurons: int = 40,
    region: str = "IT",
    objects: int = 8,
    image_size: int = 64,
    bin_ms: float = 10.0,
    model_seed: int = 0,
    seed: int = 0,
    max_features: int = 1000,
) -> dict[str, Any]:
    """Write a synthetic neural data set to ``path`` (.npz) and return its true values."""
    from workers.data.shapes import generate

    if not 0 <= bin < bins:
        raise ValueError(f"bin must lie in 0..{bins - 1} (got {bin})")
    if reps < 2 or n_images < 4 or neurons < 1 or noise < 0:
        raise ValueError("need reps >= 2, n_images >= 4, neurons >= 1 and noise >= 0")
    stimuli, labels = generate(n_images, image_size, objects, seed)
    rng = np.random.default_rng([seed, 2])
    eps = rng.standard_normal((reps, n_images, neurons, bins))
    truth: dict[str, Any] = {"kind": kind, "noise": noise, "noise_var": noise**2, "reps": reps}
    truth |= {"n_images": n_images, "neurons": neurons, "bins": bins, "region": region}
    if kind == "model":
        resolved, name = _arch(arch, input_size)
        signal = hidden_signal(
            resolved,
            stimuli,
            layer,
            bin,
            neurons,
            model_seed=model_seed,
            seed=seed,
            max_features=max_features,
        )
        responses = signal[None, :, :, None] + noise * eps
        ceiling = analytic_ceiling(1.0, noise**2, reps)
        truth |= {
            "arch": name,
            "arch_hash": resolved.arch_hash,
            "input_size": resolved.input.size,
            "layer": layer,
            "bin": bin,
            "step": bin,
            "model_seed": model_seed,
            "max_features": max_features,
            "signal_var": 1.0,
            "ceiling": ceiling,
            "best_raw": math.sqrt(ceiling),
            "best_normalized": 1.0 / math.sqrt(ceiling),
        }
    else:
        responses = noise * eps
        truth |= {"signal_var": 0.0, "ceiling": 0.0, "best_raw": 0.0, "best_normalized": 0.0}
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        np.savez_compressed(
            fh,
            stimuli=stimuli,
            responses=responses.astype(np.float32),
            regions=np.array([region] * neurons),
            bin_ms=np.arange(bins, dtype=np.float64) * bin_ms,
            labels=labels,
        )
    truth["path"] = str(out)
    return truth


def main(argv: list[str] | None = None) -> None:
    """``python -m workers.neural.synthetic OUT.npz [--kind noise]`` (``convnas neural synth``
    is the same with named errors)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--kind", choices=["model", "noise"], default="model")
    args = parser.parse_args(argv)
    print(json.dumps(make_synthetic(args.out, kind=args.kind), indent=2))


if __name__ == "__main__":
    main()

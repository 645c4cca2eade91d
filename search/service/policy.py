"""What a server accepts from a client: size limits and data roots (torch-free).

A spec that validates may still be too much for a shared server: more trials or layers than it
allows, an input or a dataset larger than it can hold, a space whose *smallest* architecture
already exceeds its memory or FLOPs, or a dataset path outside the folders it serves.
:func:`policy_problems` names every such problem by field path before anything is queued; the
runner never sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from space.budget import sampled_archs
from space.cost import cost, human_bytes, human_count
from space.errors import Problem
from space.params import ChoiceLeaf, IntLeaf
from space.paths import path_problems
from space.settings import DEFAULT_MAX_DATASET_PIXELS
from space.spec import (
    DigitsDataset,
    ImageFolderDataset,
    PathfinderDataset,
    SearchSpec,
    ShapesDataset,
)

# Archs sampled for the cost check when none fits (a normal spec stops at the first); fewer when
# they take longer than space.budget.SAMPLING_SECONDS (100 of 64 layers took 0.6 s to 4 s).
COST_SAMPLES = 100
# scikit-learn's digits: 1,797 images, every one loaded (and resized) whatever ``limit`` says.
DIGITS_IMAGES = 1797


@dataclass(frozen=True)
class Limits:
    """The largest search a server accepts; cost limits apply to the space's smallest arch
    (per image: parameters, multiply-adds over the unroll, activation bytes for BPTT)."""

    max_trials: int
    max_layers: int
    max_input_size: int
    max_params: int
    max_flops: int
    max_activation_memory: int
    max_dataset_pixels: int = DEFAULT_MAX_DATASET_PIXELS


def policy_problems(
    spec: SearchSpec,
    limits: Limits,
    data_roots: Sequence[Path],
    *,
    samples: int = COST_SAMPLES,
) -> list[Problem]:
    """Every way ``spec`` exceeds ``limits`` or leaves ``data_roots`` (empty: it is accepted).

    The cost check runs only once the sizes are within limits, so it stays bounded.
    """
    problems = size_problems(spec, limits) + data_root_problems(spec, data_roots)
    if not problems:
        problems = cost_problems(spec, limits, samples=samples)
    return problems


def size_problems(spec: SearchSpec, limits: Limits) -> list[Problem]:
    problems = []
    if spec.search.trials > limits.max_trials:
        message = f"more trials than this server allows (max_trials {limits.max_trials:,})"
        problems.append(Problem("search.trials", message, spec.search.trials))
    if len(spec.layers) > limits.max_layers:
        message = f"more layers than this server allows (max_layers {limits.max_layers:,})"
        problems.append(Problem("layers", message, len(spec.layers)))
    largest = largest_int(spec.input.size)
    if largest is not None and largest > limits.max_input_size:
        message = f"input larger than this server allows (max_input_size {limits.max_input_size:,})"
        problems.append(Problem("input.size", message, largest))
    return problems + dataset_size_problems(spec, limits)


def dataset_size_problems(spec: SearchSpec, limits: Limits) -> list[Problem]:
    """The dataset, as loaded at the largest input the spec allows, within max_dataset_pixels
    (checked where its image count is known before reading a file: built-in kinds, and an image
    folder with max_per_class)."""
    images, side, channels = _images(spec), _loaded_side(spec), largest_int(spec.input.channels)
    if images is None or side is None or channels is None:
        return []
    pixels = images * side * side * channels
    if pixels <= limits.max_dataset_pixels:
        return []
    message = (
        f"dataset larger than this server allows: {images:,} images of {side}x{side}x{channels} "
        f"are {human_count(pixels)} pixels (max_dataset_pixels "
        f"{human_count(limits.max_dataset_pixels)})"
    )
    return [Problem("dataset", message, pixels)]


def _images(spec: SearchSpec) -> int | None:
    ref = spec.dataset
    if isinstance(ref, DigitsDataset):
        return DIGITS_IMAGES
    if isinstance(ref, ShapesDataset | PathfinderDataset):
        return ref.samples  # all generated; ``limit`` only picks the training subset
    if isinstance(ref, ImageFolderDataset) and ref.max_per_class is not None:
        return ref.max_per_class * spec.classes
    return None  # an npz file or a whole folder: its count is known once read


def _loaded_side(spec: SearchSpec) -> int | None:
    """The larger of the side a kind generates images at and the input they are resized to."""
    size = largest_int(spec.input.size)
    generated = getattr(spec.dataset, "size", None)
    return None if size is None else max(size, generated or 0)


def largest_int(value: Any) -> int | None:
    """The largest integer a fixed value or a searched leaf can take (None: not an integer)."""
    if isinstance(value, IntLeaf):
        return value.bounds[1]
    if isinstance(value, ChoiceLeaf):
        ints = [v for v in value.values if isinstance(v, int) and not isinstance(v, bool)]
        return max(ints) if ints else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def data_root_problems(spec: SearchSpec, roots: Sequence[Path]) -> list[Problem]:
    """Every file the spec names (dataset, neural data, any file field) must resolve inside one
    of ``roots`` (resolved); one policy for all of them, :func:`space.paths.path_problems`."""
    return path_problems(spec, roots)


def cost_problems(
    spec: SearchSpec, limits: Limits, *, samples: int = COST_SAMPLES
) -> list[Problem]:
    """Problems when no sampled arch of ``spec`` fits the server's cost limits.

    Sampled like :func:`space.budget.feasibility_warning` (the cheapest arch is not simply every
    choice at its smallest); the first arch that fits ends the check, so a normal spec costs one
    sample, and :func:`space.budget.sampled_archs` stops a long check at its time budget.
    """
    bounds = {
        "params": limits.max_params,
        "flops": limits.max_flops,
        "activation_memory": limits.max_activation_memory,
    }
    smallest: dict[str, int] = {}
    sampled = 0
    for arch in sampled_archs(spec, samples):
        c = cost(arch)
        values = {"params": c.params, "flops": c.flops, "activation_memory": c.activation_bytes}
        if all(values[kind] <= bound for kind, bound in bounds.items()):
            return []
        sampled += 1
        for kind, value in values.items():
            smallest[kind] = min(value, smallest.get(kind, value))
    problems = [
        Problem(
            f"cost.{kind}",
            f"the smallest of {sampled} sampled architectures needs {_shown(kind, value)}, over "
            f"this server's limit max_{kind} {_shown(kind, bounds[kind])}",
            value,
        )
        for kind, value in smallest.items()
        if value > bounds[kind]
    ]
    message = f"none of {sampled} sampled architectures fits this server's cost limits at once"
    return problems or [Problem("cost", message)]


def _shown(kind: str, value: int) -> str:
    return human_bytes(value) if kind == "activation_memory" else human_count(value)

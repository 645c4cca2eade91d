"""What a server accepts from a client: size limits and data roots (torch-free).

A spec that validates may still be too much for a shared server: more trials or layers than it
allows, an input larger than it can hold, a space whose *smallest* architecture already exceeds
its memory or FLOPs, or a dataset path outside the folders it serves. :func:`policy_problems`
names every such problem by field path before anything is queued; the runner never sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from space.cost import cost, human_bytes, human_count
from space.errors import Problem
from space.params import ChoiceLeaf, IntLeaf
from space.sampling import sample
from space.spec import SearchSpec

# Archs sampled for the cost check when none fits (a normal spec stops at the first): bounds a
# request's work (about 1 s at 64 layers of 2,000 channels on one core).
COST_SAMPLES = 100
ROOTS_HINT = "set CONVNAS_DATA_ROOTS on the server to allow file datasets under a folder"


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
    return problems


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
    """A file dataset's path must resolve (symlinks and ``..`` first) inside one of ``roots``,
    which are already resolved. Relative and ``~`` paths are refused: the runner that opens the
    file may run in another folder, or as another user, than the server that checked it."""
    path = getattr(spec.dataset, "path", None)
    if path is None:
        return []
    if not roots:
        return [Problem("dataset.path", f"file datasets are not accepted here; {ROOTS_HINT}", path)]
    try:
        given = Path(path)
        if not given.is_absolute():
            return [Problem("dataset.path", "must be an absolute path inside a data root", path)]
        resolved = given.resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL byte, symlink loop, name too long
        return [Problem("dataset.path", f"not a usable path: {exc}", path)]
    if not any(resolved.is_relative_to(root) for root in roots):
        # Neither where it resolves to nor the roots are shown: that would let any client read
        # the server's symlinks (/proc/self/cwd...) and layout.
        message = "outside the server's data roots (after resolving symlinks and ..)"
        return [Problem("dataset.path", message, path)]
    return []


def cost_problems(
    spec: SearchSpec, limits: Limits, *, samples: int = COST_SAMPLES
) -> list[Problem]:
    """Problems when no sampled arch of ``spec`` fits the server's cost limits.

    Sampled like :func:`space.budget.feasibility_warning` (the cheapest arch is not simply every
    choice at its smallest); the first arch that fits ends the check, so a normal spec costs one
    sample.
    """
    bounds = {
        "params": limits.max_params,
        "flops": limits.max_flops,
        "activation_memory": limits.max_activation_memory,
    }
    smallest: dict[str, int] = {}
    for seed in range(samples):
        c = cost(sample(spec, seed))
        values = {"params": c.params, "flops": c.flops, "activation_memory": c.activation_bytes}
        if all(values[kind] <= bound for kind, bound in bounds.items()):
            return []
        for kind, value in values.items():
            smallest[kind] = min(value, smallest.get(kind, value))
    problems = [
        Problem(
            f"cost.{kind}",
            f"the smallest of {samples} sampled architectures needs {_shown(kind, value)}, over "
            f"this server's limit max_{kind} {_shown(kind, bounds[kind])}",
            value,
        )
        for kind, value in smallest.items()
        if value > bounds[kind]
    ]
    message = f"none of {samples} sampled architectures fits this server's cost limits at once"
    return problems or [Problem("cost", message)]


def _shown(kind: str, value: int) -> str:
    return human_bytes(value) if kind == "activation_memory" else human_count(value)

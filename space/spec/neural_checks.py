"""Cross-field checks of a spec's neural fit (issue 14): a ``neural_fit`` objective needs the
``neural:`` block and a region, a region belongs to that objective alone, the listed layers
exist, and ASHA (which stops trials on per-epoch accuracy) is not paired with an objective known
only after training. Whether the data file exists and holds the arrays is checked with the
dataset (``workers.neural.check.neural_data_problems``), not here: space core reads no files.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from space.spec.model import SearchSpec

# (path, message, bad value), as space.spec.checks collects them.
NeuralIssue = tuple[tuple[str | int, ...], str, Any]

BLOCK_EXAMPLE = "neural: {data: neural:PATH.npz, region: IT}"


def check_neural(spec: SearchSpec) -> Iterator[NeuralIssue]:
    block = getattr(spec, "neural", None)
    for i, objective in enumerate(getattr(spec, "objectives", None) or []):
        if objective is None:
            continue
        path = ("objectives", i)
        if objective.metric != "neural_fit":
            if objective.region is not None:
                yield (
                    (*path, "region"),
                    "only a neural_fit objective has a region",
                    objective.region,
                )
            continue
        if block is None:
            yield (
                (*path, "metric"),
                f"neural_fit needs the spec's neural data set: add {BLOCK_EXAMPLE}",
                objective.metric,
            )
            continue
        if objective.region is None and block.region is None:
            yield (
                (*path, "region"),
                "neural_fit needs a region (e.g. IT): set it here or as neural.region",
                None,
            )
        elif objective.region and block.region and objective.region != block.region:
            yield (
                (*path, "region"),
                f"differs from neural.region ({block.region}); set one of them",
                objective.region,
            )
        # (asha with a neural_fit objective: space.spec.checks says use fifo)
    if block is not None and isinstance(block.layers, list):
        names = [getattr(layer, "name", None) for layer in getattr(spec, "layers", None) or []]
        for j, name in enumerate(block.layers):
            if name not in names:
                known = ", ".join(str(n) for n in names if n)
                yield (("neural", "layers", j), f"unknown layer (layers: {known})", name)

"""Constraints against the analytic cost: which limits an arch exceeds, and whether a space has
any arch within them at all (``convnas space validate`` warns when it seems not to)."""

from __future__ import annotations

from space.cost import ArchCost, cost
from space.sampling import sample
from space.spec import SearchSpec

FEASIBILITY_SAMPLES = 200


def _checks(spec: SearchSpec, arch_cost: ArchCost) -> list[tuple[str, int, int | None]]:
    limits = spec.constraints
    return [
        ("params", arch_cost.params, limits.max_params),
        ("flops", arch_cost.flops, limits.max_flops),
        ("activation_memory", arch_cost.activation_bytes, limits.max_activation_memory),
    ]


def over_budget(spec: SearchSpec, arch_cost: ArchCost) -> list[str]:
    """One message per constraint of ``spec`` that ``arch_cost`` exceeds (empty: it fits).
    flops are multiply-adds over the whole unroll, memory is in bytes (see space.cost)."""
    return [
        f"{what} {value:,} > max_{what} {limit:,}"
        for what, value, limit in _checks(spec, arch_cost)
        if limit is not None and value > limit
    ]


def feasibility_warning(spec: SearchSpec, samples: int = FEASIBILITY_SAMPLES) -> str | None:
    """A warning when none of ``samples`` random archs of ``spec`` fits its constraints.

    Sampling, not an exact minimum: the cheapest configuration is not simply "every choice at
    its smallest" (memory and FLOPs depend on sizes and steps together, repairs change cells),
    and a few hundred analytic costs take well under a second. A space where only a sliver
    fits may be warned about wrongly; the message says it is a sample.
    """
    c = spec.constraints
    if c.max_params is None and c.max_flops is None and c.max_activation_memory is None:
        return None
    smallest: dict[str, tuple[int, int | None]] = {}
    distinct: set[str] = set()
    for seed in range(samples):
        arch = sample(spec, seed)
        arch_cost = cost(arch)
        if not over_budget(spec, arch_cost):
            return None
        distinct.add(arch.arch_hash)
        for what, value, limit in _checks(spec, arch_cost):
            if what not in smallest or value < smallest[what][0]:
                smallest[what] = (value, limit)
    beyond = [
        f"the smallest {what} {value:,} > max_{what} {limit:,}"
        for what, (value, limit) in smallest.items()
        if limit is not None and value > limit
    ]
    why = "; ".join(beyond) or "no sampled arch meets every limit at once"
    return (
        f"none of {len(distinct)} distinct sampled architectures fits the constraints ({why}): "
        "the search would reject every candidate; raise the limits or shrink the space"
    )

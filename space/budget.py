"""Constraints against the analytic cost: the one budget check (which limits an arch exceeds and
by how much), and whether a space has any arch within them at all (``convnas space validate``
warns when it seems not to). The search driver rejects over-budget candidates with it too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from space.arch import Arch
from space.cost import ArchCost, cost
from space.sampling import sample
from space.spec import SearchSpec

FEASIBILITY_SAMPLES = 200
# One arch of a large space takes up to 60 ms to sample and cost (64 layers, 2,016 feedback
# candidates): 200 of them took 8 s of a server's CPU on an open route. Sampling checks stop
# after this much wall-clock time, with at least one arch, and say how many they sampled.
SAMPLING_SECONDS = 0.3
# Every constraint kind, in the order the searcher reports overshoots to Optuna.
CONSTRAINT_KINDS = ("params", "flops", "activation_memory")


@dataclass(frozen=True)
class Limit:
    """One constraint kind: the arch's value and the spec's limit (None: unconstrained)."""

    kind: str
    value: int
    limit: int | None

    @property
    def exceeded(self) -> bool:
        return self.limit is not None and self.value > self.limit

    @property
    def overshoot(self) -> float:
        """``(value - limit) / limit``: > 0 over the limit, <= 0 within it, 0.0 without one."""
        if self.limit is None:
            return 0.0
        return (self.value - self.limit) / self.limit

    def message(self) -> str:
        return f"{self.kind} {self.value:,} > max_{self.kind} {self.limit:,}"


def limits(spec: SearchSpec, arch_cost: ArchCost) -> list[Limit]:
    """One :class:`Limit` per kind of :data:`CONSTRAINT_KINDS`, in that order.
    flops are multiply-adds over the whole unroll, memory is in bytes (see space.cost)."""
    c = spec.constraints
    return [
        Limit("params", arch_cost.params, c.max_params),
        Limit("flops", arch_cost.flops, c.max_flops),
        Limit("activation_memory", arch_cost.activation_bytes, c.max_activation_memory),
    ]


def over_budget(spec: SearchSpec, arch_cost: ArchCost) -> list[str]:
    """One message per constraint of ``spec`` that ``arch_cost`` exceeds (empty: it fits)."""
    return [limit.message() for limit in limits(spec, arch_cost) if limit.exceeded]


def sampled_archs(spec: SearchSpec, samples: int, seconds: float | None = None) -> Iterator[Arch]:
    """``sample(spec, 0)``, ``sample(spec, 1)``, ...: at most ``samples`` archs, and none more
    once ``seconds`` (default :data:`SAMPLING_SECONDS`) have passed; the first always comes."""
    deadline = time.perf_counter() + (SAMPLING_SECONDS if seconds is None else seconds)
    for seed in range(samples):
        if seed and time.perf_counter() > deadline:
            return
        yield sample(spec, seed)


def feasibility_warning(spec: SearchSpec, samples: int = FEASIBILITY_SAMPLES) -> str | None:
    """A warning when none of ``samples`` random archs of ``spec`` (fewer past
    :data:`SAMPLING_SECONDS`) fits its constraints.

    Sampling, not an exact minimum: the cheapest configuration is not simply "every choice at
    its smallest" (memory and FLOPs depend on sizes and steps together, repairs change cells),
    and a few hundred analytic costs take well under a second. A space where only a sliver
    fits may be warned about wrongly; the message says it is a sample.
    """
    c = spec.constraints
    if c.max_params is None and c.max_flops is None and c.max_activation_memory is None:
        return None
    smallest: dict[str, Limit] = {}
    distinct: set[str] = set()
    for arch in sampled_archs(spec, samples):
        checked = limits(spec, cost(arch))
        if not any(limit.exceeded for limit in checked):
            return None
        distinct.add(arch.arch_hash)
        for limit in checked:
            if limit.kind not in smallest or limit.value < smallest[limit.kind].value:
                smallest[limit.kind] = limit
    beyond = [f"the smallest {limit.message()}" for limit in smallest.values() if limit.exceeded]
    why = "; ".join(beyond) or "no sampled arch meets every limit at once"
    return (
        f"none of {len(distinct)} distinct sampled architectures fits the constraints ({why}): "
        "the search would reject every candidate; raise the limits or shrink the space"
    )

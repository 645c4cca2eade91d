"""Constraints against the analytic cost: the one budget check (which limits an arch exceeds and
by how much), and whether a space has any arch within them at all (``convnas space validate``
warns when it seems not to). The search driver rejects over-budget candidates with it too."""

from __future__ import annotations

from dataclasses import dataclass

from space.cost import ArchCost, cost
from space.sampling import sample
from space.spec import SearchSpec

FEASIBILITY_SAMPLES = 200
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
    smallest: dict[str, Limit] = {}
    distinct: set[str] = set()
    for seed in range(samples):
        arch = sample(spec, seed)
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

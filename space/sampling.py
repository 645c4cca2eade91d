"""Freezing a search spec into a concrete :class:`~space.arch.Arch`, define-by-run.

:func:`freeze` walks the spec (:class:`space.walk.SpaceWalk`: fixed order, stable dotted labels,
the repairs that keep every sample valid) and asks a :class:`Sampler` for every searched leaf it
reaches; fixed values never reach the sampler and parameters of an inactive branch are never
asked for. A sampler is any callable ``(label, domain) -> value`` (domains from
:mod:`space.params`), so an Optuna trial is a one-function adapter. See :mod:`space.walk` for the
labels and their order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any, Protocol

from space.arch import Arch, arch_from_data
from space.errors import Problem, SpecError
from space.params import (
    Categorical,
    FloatRange,
    IntRange,
    SearchDomain,
)
from space.spec import SearchSpec
from space.walk import SpaceWalk


class Sampler(Protocol):
    """Answers one searched leaf: ``sampler("layers.conv2.channels", Categorical((16, 32)))``."""

    def __call__(self, label: str, domain: SearchDomain) -> Any: ...


class RandomSampler:
    """Seeded pure-Python sampler (uniform; log-uniform for log float ranges).

    ``params`` records every answer by label, in the order asked.
    """

    def __init__(self, seed: int | None = None):
        self.rng = random.Random(seed)
        self.params: dict[str, Any] = {}

    def __call__(self, label: str, domain: SearchDomain) -> Any:
        value = self._draw(domain)
        self.params[label] = value
        return value

    def _draw(self, domain: SearchDomain) -> Any:
        if isinstance(domain, Categorical):
            return self.rng.choice(domain.choices)
        if isinstance(domain, IntRange):
            return self.rng.randrange(domain.low, domain.high + 1, domain.step)
        if isinstance(domain, FloatRange):
            if domain.log:
                return math.exp(self.rng.uniform(math.log(domain.low), math.log(domain.high)))
            return self.rng.uniform(domain.low, domain.high)
        return self.rng.random() < 0.5


class ReplaySampler:
    """Answers from recorded ``params`` (label -> value), e.g. to rebuild a trial's arch.

    A label missing from ``params`` falls back to ``fallback`` when given, else is an error.
    """

    def __init__(self, params: Mapping[str, Any], fallback: Sampler | None = None):
        self.params = dict(params)
        self.fallback = fallback
        self.asked: list[str] = []

    def __call__(self, label: str, domain: SearchDomain) -> Any:
        self.asked.append(label)
        if label in self.params:
            return self.params[label]
        if self.fallback is not None:
            return self.fallback(label, domain)
        raise SpecError([Problem(label, "no recorded value for this parameter")])


class _Freezer(SpaceWalk):
    def __init__(self, spec: SearchSpec, sampler: Sampler):
        super().__init__(spec)
        self.sampler = sampler

    def param(self, label: str, domain: SearchDomain, condition: str | None) -> Any:
        return self.sampler(label, domain)


def freeze(spec: SearchSpec, sampler: Sampler) -> Arch:
    """Sample ``spec`` through ``sampler`` into a valid, concrete :class:`Arch`.

    Raises :class:`SpecError` only if the sampler returns values outside their domains (or a
    repair rule is missing: a bug, reported as such rather than as a traceback).
    """
    data = _Freezer(spec, sampler).arch_data()
    try:
        return arch_from_data(data, source=f"sample of {spec.name}")
    except SpecError as exc:
        raise SpecError(
            [
                Problem(
                    p.path, f"the sampled arch is invalid: {p.message}", line=None, source=p.source
                )
                for p in exc.problems
            ]
        ) from None


def sample(spec: SearchSpec, seed: int | None = None) -> Arch:
    """One random arch of ``spec`` (same seed, same arch)."""
    return freeze(spec, RandomSampler(seed))

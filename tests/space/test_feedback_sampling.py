"""Feedback edges are sampled without bias: the count is uniform on its range, every candidate is
equally likely, and the Optuna parameters (a count and one priority per candidate) map to edges
deterministically."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from space.errors import SpecError
from space.params import FloatRange, IntRange, SearchDomain
from space.sampling import RandomSampler, ReplaySampler, freeze, sample
from space.spec import load_spec, spec_from_data
from tests.space.spec_fixtures import EXAMPLES, base

SAMPLES = 2000
# chi-square critical value for 5 degrees of freedom at p = 0.001: a fair uniform count fails
# this test about once in a thousand seeds, a biased one (e.g. the old "stop at max_edges"
# visit, with almost every sample at 5 edges) fails it by orders of magnitude.
CHI2_5DF_P001 = 20.52


def _paper_samples() -> tuple[Counter[tuple[str, str]], Counter[int], int]:
    spec = load_spec(EXAMPLES / "paper_rgc.yaml")
    candidates = {(c.source, c.target) for c in spec.edge_candidates()}
    inclusion: Counter[tuple[str, str]] = Counter({c: 0 for c in candidates})
    sizes: Counter[int] = Counter()
    for seed in range(SAMPLES):
        edges = sample(spec, seed).feedback
        sizes[len(edges)] += 1
        inclusion.update((e.source, e.target) for e in edges)
    return inclusion, sizes, len(candidates)


@pytest.fixture(scope="module")
def paper_samples() -> tuple[Counter[tuple[str, str]], Counter[int], int]:
    return _paper_samples()


def test_every_candidate_is_equally_likely(
    paper_samples: tuple[Counter[tuple[str, str]], Counter[int], int],
) -> None:
    inclusion, _, n = paper_samples
    assert n == 21 and len(inclusion) == 21
    rates = {edge: count / SAMPLES for edge, count in inclusion.items()}
    assert max(rates.values()) - min(rates.values()) <= 0.05, rates
    # the documented rate: E[count] / candidates = 2.5 / 21
    for rate in rates.values():
        assert rate == pytest.approx(2.5 / 21, abs=0.03)
    # the released model's edges are drawn as often as any others
    for edge in [("conv8", "conv5"), ("conv10", "conv9"), ("conv10", "conv7")]:
        assert rates[edge] > 0.08


def test_edge_count_is_uniform_on_0_to_max_edges(
    paper_samples: tuple[Counter[tuple[str, str]], Counter[int], int],
) -> None:
    _, sizes, _ = paper_samples
    assert set(sizes) == set(range(6))  # max_edges: 5
    expected = SAMPLES / 6
    chi2 = sum((sizes[k] - expected) ** 2 / expected for k in range(6))
    assert chi2 < CHI2_5DF_P001, sizes


def test_given_the_count_every_subset_is_equally_likely() -> None:
    # 3 candidates, exactly 1 or 2 on (min_edges 1, max_edges 2): 6 subsets, each 1/6 of the
    # samples (count uniform on {1, 2}, then a uniform subset of that size).
    layers = [{"name": f"c{i}", "channels": 4, "cell": "main"} for i in range(3)]
    spec = spec_from_data(
        base(
            layers=layers,
            feedback={"candidates": "later_to_earlier_cells", "min_edges": 1, "max_edges": 2},
        )
    )
    subsets = Counter(
        frozenset((e.source, e.target) for e in sample(spec, seed).feedback) for seed in range(1200)
    )
    assert len(subsets) == 6 and {len(s) for s in subsets} == {1, 2}
    for count in subsets.values():
        assert count == pytest.approx(200, abs=45)


def test_always_on_edges_count_toward_the_limits() -> None:
    spec = spec_from_data(
        base(
            feedback={
                "candidates": [
                    {"source": "conv3", "target": "conv2", "enabled": True},
                    {"source": "conv3", "target": "conv1"},
                    {"source": "conv2", "target": "conv1"},
                ],
                "max_edges": 2,
            }
        )
    )
    asked: dict[str, SearchDomain] = {}

    def recording(label: str, domain: SearchDomain) -> Any:
        asked[label] = domain
        return RandomSampler(len(asked))(label, domain)

    for seed in range(40):
        arch = sample(spec, seed)
        pairs = {(e.source, e.target) for e in arch.feedback}
        assert ("conv3", "conv2") in pairs and len(pairs) <= 2
    freeze(spec, recording)
    assert asked["feedback.edges"] == IntRange(0, 1)  # one place left beside the forced edge


def test_min_edges_above_max_edges_is_an_error() -> None:
    with pytest.raises(SpecError) as err:
        spec_from_data(
            base(feedback={"candidates": "later_to_earlier", "min_edges": 3, "max_edges": 2})
        )
    assert "min_edges (3) must not exceed max_edges (2)" in str(err.value)


def test_priorities_pick_the_edges_deterministically() -> None:
    spec = load_spec(EXAMPLES / "paper_rgc.yaml")
    for seed in range(100):  # the first sample whose edges need priorities
        recorder = RandomSampler(seed)
        arch = freeze(spec, recorder)
        count = recorder.params["feedback.edges"]
        if 0 < count < 21:
            break
    assert 0 < count < 21
    priorities = {
        label.removeprefix("feedback.").removesuffix(".priority"): value
        for label, value in recorder.params.items()
        if label.endswith(".priority")
    }
    assert len(priorities) == 21
    top = sorted(priorities, key=lambda edge: -priorities[edge])[:count]
    assert {f"{e.source}->{e.target}" for e in arch.feedback} == set(top)
    # the same answers give the same edges, whatever else is recorded
    again = freeze(spec, ReplaySampler(recorder.params))
    assert again.arch_hash == arch.arch_hash
    assert all(
        isinstance(domain, FloatRange) and (domain.low, domain.high) == (0.0, 1.0)
        for domain in _domains(spec, recorder.params).values()
        if domain is not None
    )


def _domains(spec: Any, params: dict[str, Any]) -> dict[str, SearchDomain | None]:
    seen: dict[str, SearchDomain | None] = {}

    def recording(label: str, domain: SearchDomain) -> Any:
        if label.endswith(".priority"):
            seen[label] = domain
        return params[label]

    freeze(spec, recording)
    return seen

"""Cross-field checks of a spec (what one field's type cannot say): unique names, known
references, legal residuals and rgc drives, feedback edges, time steps that show the image,
objectives. Each check yields ``(path, message, bad value)`` issues; all are collected."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from space import arch as A
from space.params import TieLeaf, domain_of, finite_values, numeric_bounds
from space.spec.model import SearchSpec
from space.spec.neural_checks import check_neural
from space.spec.nodes import CellOneOf, LayerSpace, ReadoutOneOf, branch_name
from space.spec.twins import CellKindSpace, MeanReadoutSpace

Loc = tuple[str | int, ...]
# Semantic checks: (path, message, bad value) triples, all collected.
Issue = tuple[Loc, str, Any]


def check_spec(spec: SearchSpec, failed: Sequence[Loc] | None = None) -> list[Issue]:
    """Every cross-field problem of ``spec``.

    With ``failed`` (paths of fields that did not validate), ``spec`` is a partial one from
    :func:`_salvage`: issues at or around a failed field are dropped (they would judge a default
    the user never wrote), and a check that trips over a missing value is skipped rather than
    crash (best effort: the format errors are reported anyway).
    """
    issues: list[Issue] = []
    for check in _CHECKS:
        try:
            issues += check(spec)
        except (AttributeError, TypeError, KeyError, ValueError):
            if failed is None:
                raise
    if failed:
        issues = [issue for issue in issues if not any(_related(issue[0], p) for p in failed)]
    return issues


def _related(a: Loc, b: Loc) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _named_layers(spec: SearchSpec) -> Iterator[tuple[int, LayerSpace]]:
    """(index, layer) for every layer with a valid name (all of them in a valid spec)."""
    for i, layer in enumerate(getattr(spec, "layers", None) or []):
        if layer is not None and isinstance(getattr(layer, "name", None), str):
            yield i, layer


def _check_layers(spec: SearchSpec) -> Iterator[Issue]:
    seen: set[str] = set()
    for i, layer in _named_layers(spec):
        if layer.name in seen or layer.name == "readout":
            yield (("layers", i, "name"), "duplicate or reserved layer name", layer.name)
        seen.add(layer.name)
        if isinstance(layer.cell, str) and layer.cell not in spec.cells:
            known = ", ".join(spec.cells) or "none defined"
            yield (("layers", i, "cell"), f"unknown cell (cells: {known})", layer.cell)
        yield from _check_residual(layer, ("layers", i))
    if all(getattr(layer, "optional", False) for _, layer in _named_layers(spec)):
        yield (("layers",), "at least one layer must not be optional", len(spec.layers))


def _can_be(value: Any, predicate: Callable[[Any], bool]) -> bool:
    values = finite_values(domain_of(value))
    if values is None:
        return True
    return any(predicate(v) for v in values)


def _check_residual(layer: LayerSpace, path: Loc) -> Iterator[Issue]:
    # A residual add needs matching sizes: residual=true is only legal with stride 1 or a post
    # conv. When residual is searched, sampling turns it off where illegal; when fixed true it
    # must be legal in every sample.
    strided = _can_be(layer.stride, lambda s: s != 1)
    illegal = strided and _can_be(layer.post_kernel, lambda k: k == 0)
    if layer.residual is True and illegal:
        yield ((*path, "residual"), "residual needs stride 1 or post_kernel > 0", True)
    if isinstance(layer.residual, TieLeaf) and illegal:  # the repair would break the tie
        yield (
            (*path, "residual"),
            "a tie the repair would override: residual is set false wherever stride != 1 "
            "and post_kernel is 0; set residual without a tie",
            layer.residual.model_dump(by_alias=True),
        )


def _cell_spaces(spec: SearchSpec) -> Iterator[tuple[Loc, CellKindSpace | CellOneOf, bool]]:
    """(path, cell space, is_named) for every cell space written in the spec."""
    for name, cell in spec.cells.items():
        if cell is not None:
            yield ("cells", name), cell, True
    for i, layer in _named_layers(spec):
        inline = getattr(layer, "cell", None)  # a salvaged layer may lack it
        if inline is not None and not isinstance(inline, str):
            yield ("layers", i, "cell"), inline, False


def _check_cells(spec: SearchSpec) -> Iterator[Issue]:
    for path, cell, named in _cell_spaces(spec):
        if cell.share is not None and not named:
            yield ((*path, "share"), "share is only allowed on a named cell in 'cells'", cell.share)
        branches = cell.one_of if isinstance(cell, CellOneOf) else [cell]
        names: set[str] = set()
        for j, branch in enumerate(branches):
            bpath = (*path, "one_of", j) if isinstance(cell, CellOneOf) else path
            if branch.share is not None and isinstance(cell, CellOneOf):
                yield ((*bpath, "share"), "share belongs on the named cell, not a branch", True)
            if branch_name(branch) in names:
                yield (
                    bpath,
                    "two alternatives with one name: give them distinct 'branch' names",
                    branch_name(branch),
                )
            names.add(branch_name(branch))
            family = A.CELL_MODELS[branch.kind]  # its own rules (space.cells)
            for name, message, value in family.space_issues(branch):
                yield ((*bpath, name), message, value)


def _check_feedback(spec: SearchSpec) -> Iterator[Issue]:
    fb = spec.feedback
    names = {layer.name for _, layer in _named_layers(spec)}
    for j, layer_name in enumerate(fb.among or []):
        if layer_name not in names:
            yield (("feedback", "among", j), "unknown layer", layer_name)
    if isinstance(fb.candidates, str):
        return
    pairs: set[tuple[str, str]] = set()
    for i, edge in enumerate(fb.candidates):
        path: Loc = ("feedback", "candidates", i)
        label = f"edge {edge.source}->{edge.target}"
        for end in ("source", "target"):
            if getattr(edge, end) not in names:
                yield ((*path, end), f"unknown layer in {label}", getattr(edge, end))
        if edge.source == edge.target:
            yield (path, f"{label} goes from a layer to itself", edge.source)
        if (edge.source, edge.target) in pairs:
            yield (path, f"duplicate candidate {label}", f"{edge.source}->{edge.target}")
        pairs.add((edge.source, edge.target))


def _numbers(value: Any) -> tuple[float, float] | None:
    """(min, max) over the numeric values a leaf can take (None values ignored); constant time
    for ranges, which may be huge."""
    return numeric_bounds(domain_of(value))


def deepest_readout_latency(spec: SearchSpec) -> int:
    """An upper bound on the step at which any sampled arch's readout first sees the image.

    Biological unroll: every edge costs one step, so along the feedforward chain the readout of
    an arch with ``L`` layers first sees the image at step ``L``; the deepest configuration has
    every optional layer present. Feedback edges and forward skips can only add paths, so they
    never make it later: ignoring them makes the bound conservative (a spec whose steps pass
    this check never yields an arch that fails ``space.graph``'s latency check). With a
    feedforward unroll every layer sees the image at step 0.
    """
    unrolls = finite_values(domain_of(spec.time.unroll)) or ("biological",)
    if "biological" not in unrolls:
        return 0
    return sum(1 for _ in _named_layers(spec))


def _check_latency(spec: SearchSpec) -> Iterator[Issue]:
    steps = _numbers(spec.time.steps)
    if steps is None:
        return
    min_steps = int(steps[0])
    latency = deepest_readout_latency(spec)
    if min_steps <= latency:
        yield (
            ("time", "steps"),
            f"the deepest architecture's readout first sees the image at step {latency} (every "
            f"edge costs one step; {latency} layers with every optional one present), so "
            f"{min_steps} steps never show it the image: use at least {latency + 1}",
            spec.time.steps if isinstance(spec.time.steps, int) else min_steps,
        )
    image_off = _numbers(spec.time.image_off)
    if image_off is not None and image_off[1] > min_steps:
        yield (
            ("time", "image_off"),
            f"may exceed time.steps (min {min_steps}): the image must fit within the unroll",
            image_off[1],
        )


def _check_time(spec: SearchSpec) -> Iterator[Issue]:
    # The mean window must fit every sampled step count, so check against the smallest.
    steps = _numbers(spec.time.steps)
    if steps is None:
        return
    min_steps = steps[0]
    readout = spec.time.readout
    one_of = isinstance(readout, ReadoutOneOf)
    for j, branch in enumerate(readout.one_of if isinstance(readout, ReadoutOneOf) else [readout]):
        if not isinstance(branch, MeanReadoutSpace):
            continue
        path: Loc = ("time", "readout", *(("one_of", j) if one_of else ()))
        start = _numbers(branch.start) or (0, 0)
        end = _numbers(branch.end)
        if start[1] >= min_steps:
            yield ((*path, "start"), f"may reach time.steps (min {min_steps})", start[1])
        if end is not None and end[1] > min_steps:
            yield ((*path, "end"), f"may exceed time.steps (min {min_steps})", end[1])
        if end is not None and start[1] >= end[0]:
            yield ((*path, "end"), f"must be above start (max start {start[1]})", end[0])


def _check_objectives(spec: SearchSpec) -> Iterator[Issue]:
    seen: set[str] = set()
    for i, objective in enumerate(spec.objectives):
        if objective.metric in seen:
            yield (("objectives", i, "metric"), "duplicate objective", objective.metric)
        seen.add(objective.metric)
    if len(spec.objectives) > 1 and spec.search.scheduler == "asha":
        yield (
            ("search", "scheduler"),
            "asha stops trials on one metric: use fifo with several objectives",
            "asha",
        )
    elif spec.search.scheduler == "asha" and spec.objectives[0].metric != "val_acc":
        yield (
            ("search", "scheduler"),
            f"asha stops trials on the per-epoch val_acc, not on {spec.objectives[0].metric}: "
            "use fifo",
            "asha",
        )


_CHECKS: tuple[Callable[[SearchSpec], Iterator[Issue]], ...] = (
    _check_layers,
    _check_cells,
    _check_feedback,
    _check_latency,
    _check_time,
    _check_objectives,
    check_neural,
)

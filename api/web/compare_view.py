"""The compare page: two to four trials side by side, the values that differ marked."""

from __future__ import annotations

from typing import Any

from search.service import InvalidRequest, TrialDetail
from space.cost import human_bytes

MIN_TRIALS, MAX_TRIALS = 2, 4
# (heading, how a trial shows it): the rows of the comparison table.
ROWS = (
    ("Status", lambda t: t.status.value),
    ("Best val acc", lambda t: t.val_acc),
    ("Last val acc", lambda t: t.last_val_acc),
    ("Parameters", lambda t: t.params),
    ("FLOPs", lambda t: t.flops),
    ("Activation memory", lambda t: human_bytes(t.memory) if t.memory else None),
    ("Epochs", lambda t: t.epochs),
    ("Training time (s)", lambda t: t.seconds),
    ("Cells", lambda t: ", ".join(t.cells) or "feedforward"),
    ("Layers", lambda t: len(t.arch.get("layers") or [])),
    ("Feedback edges", lambda t: len(t.arch.get("feedback") or [])),
    ("Arch hash", lambda t: t.arch_hash),
)


def parse_refs(values: list[str]) -> list[tuple[str, int]]:
    """``search/number`` pairs (2 to 4), as the ``t`` parameters name them."""
    refs: list[tuple[str, int]] = []
    for value in values:
        search, _, number = value.strip().rpartition("/")
        if not search or not number.isdigit() or not number.isascii() or len(number) > 9:
            raise InvalidRequest.field("t", "expected search/number, e.g. 3/17", value)
        refs.append((search, int(number)))
    if not MIN_TRIALS <= len(refs) <= MAX_TRIALS:
        raise InvalidRequest.field("t", f"compare {MIN_TRIALS} to {MAX_TRIALS} trials", len(refs))
    return refs


def comparison(trials: list[TrialDetail]) -> list[dict[str, Any]]:
    """One row per compared value (then per sampled parameter): the values, and whether they
    differ."""
    rows = [(heading, [read(t) for t in trials]) for heading, read in ROWS]
    names = sorted({name for t in trials for name in t.sampled})
    rows += [(name, [t.sampled.get(name) for t in trials]) for name in names]
    return [
        {"heading": heading, "cells": values, "differs": len({repr(v) for v in values}) > 1}
        for heading, values in rows
    ]

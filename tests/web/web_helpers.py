"""A populated search for the page tests: service_helpers.populate, plus trials of our own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, insert, text

from search.records.db import Trial, TrialMetric, arch_cell_kinds, encode_cells, session_scope
from space.arch import Arch
from space.cost import cost
from space.presets import load_preset

# A preset with feedback edges, for the diagram's arcs.
FEEDBACK_PRESET = "rgc_intermediate"


def add_trial(engine: Engine, search_id: int, number: int, arch: Arch, epochs: int = 3) -> None:
    """A completed trial of ``arch`` with ``epochs`` epochs of per-step accuracy."""
    c = cost(arch)
    with session_scope(engine) as s:
        trial = Trial(
            search_id=search_id, number=number, status="completed", arch=arch.to_dict(),
            arch_hash=arch.arch_hash, config_hash=arch.config_hash, params={"training.lr": 0.05},
            n_params=c.params, flops=c.flops, activation_memory=c.activation_bytes,
            best_val_acc=0.7, last_val_acc=0.7, epochs=epochs, pareto=False,
            cell_kinds=encode_cells(arch_cell_kinds(arch.to_dict())),
        )  # fmt: skip
        s.add(trial)
        s.flush()
        for epoch in range(1, epochs + 1):
            steps = [round(0.1 * epoch + 0.05 * t, 3) for t in range(arch.time.steps)]
            s.add(
                TrialMetric(
                    trial_id=trial.id, epoch=epoch, train_loss=1.0 / epoch, val_loss=1.2 / epoch,
                    val_acc=0.7 * epoch / epochs, val_acc_per_step=steps, extra={},
                )
            )  # fmt: skip


def feedback_arch() -> Arch:
    arch = load_preset(FEEDBACK_PRESET)
    assert arch.feedback, "the preset must have feedback edges"
    return arch


def bulk_trials(engine: Engine, search_id: int, count: int, start: int = 100) -> None:
    """``count`` completed trials (numbers from ``start``) with distinct accuracy and params,
    inserted in one statement per 5,000 rows."""
    arch: dict[str, Any] = {"layers": []}
    rows = [
        {
            "search_id": search_id, "number": start + i, "status": "completed", "arch": arch,
            "arch_hash": f"h{i}", "config_hash": f"c{i}", "params": {},
            "n_params": 1000 + (i * 7919) % count, "flops": 10 * i,
            "best_val_acc": (i % 997) / 1000, "last_val_acc": 0.1, "epochs": 1,
            "pareto": False, "cell_kinds": "",
        }
        for i in range(count)
    ]  # fmt: skip
    with session_scope(engine) as s:
        for at in range(0, count, 5000):
            s.execute(insert(Trial), rows[at : at + 5000])
    if engine.dialect.name == "postgresql":
        # autovacuum would analyze a bulk load within a minute; the timed page must not be the
        # first query planned without statistics on 100k fresh rows
        with engine.connect() as conn:
            conn.execute(text("ANALYZE convnas_trials"))
            conn.commit()

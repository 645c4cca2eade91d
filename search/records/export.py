"""Export a trial's architecture with its provenance, optionally with its trained weights.

The document is ``{export: convnas.export/1, arch: {...}, preprocessing: {...}, provenance:
{...}}`` with no top-level ``format`` key, which is exactly what ``space.arch.load_arch`` unwraps:
the file feeds ``convnas arch summary``, ``convnas train`` and
``space.nn.build_model(load_arch(path))``. ``preprocessing`` is how the trial's inputs were
prepared (channels, resize, per-channel mean/std of the training split, class names): apply it
to new images with ``workers.data.preprocess(images, document["preprocessing"])`` before the
exported weights see them. It is null for trials recorded before convnas kept it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import yaml
from sqlalchemy.orm import Session

from search.errors import NotFound
from search.records import repository as repo
from search.records.db import Search, Trial
from search.records.leaderboard import best_trial, objectives_of
from search.records.storage import find_weights, sibling
from space.document import MAX_DOCUMENT_BYTES, parse_document
from space.errors import SpecError

EXPORT_FORMAT = "convnas.export/1"
Format = Literal["yaml", "json"]


@dataclass(frozen=True)
class Exported:
    document: dict[str, Any]
    text: str
    path: Path | None
    weights: Path | None


def package_version() -> str:
    try:
        return metadata.version("convnas")
    except metadata.PackageNotFoundError:
        return "unknown"


def pick_trial(session: Session, search: Search, number: int | None) -> Trial:
    """The asked-for trial, or the best completed one (first objective; Pareto set if several)."""
    if number is None:
        return best_trial(session, search)
    return repo.get_trial(session, search.id, number)


def provenance(search: Search, trial: Trial) -> dict[str, Any]:
    metrics = {
        # The best validation accuracy over the trial's epochs (what the leaderboard ranks by).
        "val_acc": trial.best_val_acc,
        "last_val_acc": trial.last_val_acc,
        "epochs": trial.epochs,
        "train_seconds": trial.train_seconds,
        "params": trial.n_params,
        "flops": trial.flops,
        "activation_memory": trial.activation_memory,
    }
    objectives = objectives_of(search.spec)
    values = trial.values or []
    return {
        "search": {"id": search.id, "name": search.name, "study": search.study_name},
        "trial": {
            "number": trial.number,
            "status": trial.status,
            "duplicate_of": trial.duplicate_of,
            "pareto": trial.pareto,
            "node": trial.node,
            "finished_at": trial.finished_at.isoformat() if trial.finished_at else None,
        },
        "metrics": metrics,
        "objectives": [
            {
                "metric": o.metric,
                "goal": o.direction,
                "value": values[i] if i < len(values) else None,
            }
            for i, o in enumerate(objectives)
        ],
        "params": trial.params,
        "arch_hash": trial.arch_hash,
        "config_hash": trial.config_hash,
        "dataset": search.spec.get("dataset"),
        "training": trial.arch.get("training"),
        "package": {"name": "convnas", "version": package_version()},
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


class _PlainDumper(yaml.SafeDumper):
    """SafeDumper that writes a repeated value out again instead of as ``&id001``/``*id001``:
    the arch's ``training`` also appears in the provenance, and anchors puzzle readers and
    tools that edit one copy."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(document: dict[str, Any], fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    return str(
        yaml.dump(
            document, Dumper=_PlainDumper, sort_keys=False, default_flow_style=None, width=100
        )
    )


def checkpoint_preprocessing(checkpoint: str | None) -> dict[str, Any] | None:
    """``preprocessing.json`` of a trial's checkpoint (what the worker saved with the weights)."""
    weights = find_weights(checkpoint)
    found = sibling(weights, "preprocessing.json") if weights is not None else None
    raw = found.read(MAX_DOCUMENT_BYTES) if found is not None else None
    if raw is None:
        return None
    try:  # bounded: a checkpoint folder is not trusted input
        data, _ = parse_document(raw.decode("utf-8"), str(found))
    except (SpecError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _copy_weights(search: Search, trial: Trial, output: Path) -> tuple[Path, str]:
    """Copy the trial's weights (from wherever the runs location keeps them) beside
    ``output``; their path and SHA-256. A copy cut short leaves no file behind."""
    source = find_weights(trial.checkpoint)
    if source is None:
        where = trial.checkpoint or "no checkpoint was recorded"
        raise NotFound(
            f"trial {trial.number} of search {search.id} kept no weights ({where}); export "
            "it without weights, or retrain the architecture with its weights saved"
        )
    target = output.with_name(output.stem + ".weights" + source.suffix)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("wb") as out:
            digest = source.copy_to(out)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target, digest


def export_trial(
    session: Session,
    search: Search,
    number: int | None,
    fmt: Format,
    *,
    output: Path | None = None,
    weights: bool = False,
) -> Exported:
    """Build the export of one trial; write it (and its weights) when ``output`` is given."""
    trial = pick_trial(session, search, number)
    document: dict[str, Any] = {
        "export": EXPORT_FORMAT,
        "arch": trial.arch,
        "preprocessing": trial.preprocessing or checkpoint_preprocessing(trial.checkpoint),
        "provenance": provenance(search, trial),
    }
    weights_path: Path | None = None
    if weights and output is not None:
        weights_path, digest = _copy_weights(search, trial, output)
        document["provenance"]["weights"] = {"file": weights_path.name, "sha256": digest}
    text = render(document, fmt)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    return Exported(document, text, output, weights_path)

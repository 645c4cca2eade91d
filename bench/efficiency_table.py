"""The search-efficiency table: every configuration of a small space, trained with several seeds.

    .venv/bin/python bench/efficiency_table.py [--out bench/data/efficiency_table.json]
        [--seeds 0 1] [--workers 2]
    .venv/bin/python bench/efficiency_table.py --smoke --json    # a tiny space, seconds

The space (``SPACE``: a 3-layer ConvRNN on the built-in ``digits`` at 16 px, T = 6; the shared
cell is a memoryless rgc (tau kernel 1 or 3, out residual on or off) or a gru (filter 1 or 3,
forget bias 0 or 1); 0-2 of 3 feedback edges; the Adam learning rate: 224 configurations) is
small enough to enumerate. Every configuration is trained for real with each seed (4 epochs, one
CPU thread), and its validation accuracy after every epoch and its training CPU time are kept.
``bench/search_efficiency.py`` replays searches over the table (TPE, random, concurrency, ASHA)
without training anything.

The table ships as ``bench/data/efficiency_table.json``. The build is resumable: every finished
(configuration, seed) is written at once (atomically), and a rerun trains only what is missing.
A configuration is keyed by its ``config_hash``; a change to the architecture's canonical form
changes the keys, and the replay then says to rebuild. The data split is the same for every run
(data seed 0); the seed changes the initialisation and the batch order.

Progress goes to stderr; ``--json`` prints a summary document on stdout. ``--smoke`` only
changes the defaults (an 8-config space, 2 epochs on 200 images, 2 seeds, a temporary
table): it checks that the build runs; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from space.arch import Arch
from space.params import FloatRange, SearchDomain, finite_values
from space.sampling import freeze
from space.spec import SearchSpec, spec_from_data
from space.walk import EDGE_COUNT_LABEL

FORMAT = "convnas-efficiency-table/1"
DEFAULT_OUT = Path(__file__).parent / "data" / "efficiency_table.json"

SPACE: dict[str, Any] = {
    "name": "efficiency_table",
    "dataset": "digits",
    "input": {"size": 16, "channels": 1},
    "classes": 10,
    "layers": [
        {"name": "conv1", "channels": 8, "kernel": 3, "pool": 2},
        {"name": "conv2", "channels": 8, "kernel": 3, "activation": "identity", "cell": "main"},
        {
            "name": "conv3",
            "channels": 16,
            "kernel": 3,
            "pool": 2,
            "activation": "identity",
            "cell": "main",
        },
    ],
    "cells": {
        "main": {
            "one_of": [
                {
                    "kind": "rgc",
                    "cell_depth": 0,  # no memory: the output gates itself (cheap to train)
                    "tau_filter_size": {"choice": [1, 3]},
                    "out_residual": {"bool": "any"},
                },
                {
                    "kind": "gru",
                    "filter_size": {"choice": [1, 3]},
                    "forget_bias": {"choice": [0.0, 1.0]},
                },
            ]
        }
    },
    "feedback": {"candidates": "later_to_earlier", "max_edges": 2},
    "time": {"steps": 6, "readout": "last"},
    "training": {
        "optimizer": "adam",
        "lr": {"choice": [0.001, 0.003, 0.01, 0.03]},
        "batch_size": 64,
        "epochs": 4,
    },
}
# --smoke: 2 tau kernels x 2 learning rates x 2 edge sets
SMOKE_SPACE: dict[str, Any] = {
    **SPACE,
    "cells": {"main": {"kind": "rgc", "tau_filter_size": {"choice": [1, 3]}}},
    "feedback": {"candidates": [{"source": "conv3", "target": "conv2"}]},
    "training": {**SPACE["training"], "lr": {"choice": [0.003, 0.03]}, "epochs": 2},
}
SMOKE = {"seeds": [0, 1], "dataset": "digits:limit=200", "workers": 1}


# --------------------------------------------------------------------------------------------
# Enumeration, with each configuration's probability under random sampling
# --------------------------------------------------------------------------------------------


def enumerate_configs(spec: SearchSpec, limit: int = 100_000) -> dict[str, tuple[Arch, float]]:
    """Every distinct config of ``spec`` by ``config_hash``, with its exact probability under
    uniform random sampling (Optuna's RandomSampler over ``space.sampling.freeze``).

    A walk of every path of the define-by-run tree: a finite parameter takes each value with
    probability 1/len; an edge priority takes 0 or 1 (which reaches every edge subset), and the
    subset of ``k`` of ``n`` free candidates that the top ``k`` of ``n`` uniform priorities pick
    has probability 1/C(n, k). Paths that differ only in priorities and reach one config count
    once."""
    probs: dict[str, float] = {}
    archs: dict[str, Arch] = {}
    seen_paths: set[tuple[tuple[str, int], ...]] = set()  # (finite answers, config)
    pending: list[list[int]] = [[]]
    while pending:
        prefix = pending.pop()
        path: list[int] = []
        chosen: list[tuple[str, int]] = []  # (label, index) of the non-priority answers
        weight = [1.0, 0.0]  # probability of the finite answers, number of priorities asked

        def answer(
            label: str,
            domain: SearchDomain,
            prefix: list[int] = prefix,
            path: list[int] = path,
            chosen: list[tuple[str, int]] = chosen,
            weight: list[float] = weight,
        ) -> Any:
            values = finite_values(domain)
            priority = values is None and isinstance(domain, FloatRange)
            if values is None:
                if not (priority and label.endswith(".priority")):
                    raise SystemExit(f"{label}: continuous parameters cannot be enumerated")
                values = (domain.low, domain.high)  # type: ignore[union-attr]
            if len(path) < len(prefix):
                index = prefix[len(path)]
            else:
                index = 0
                pending.extend([*path, alt] for alt in range(1, len(values)))
            path.append(index)
            if priority:
                weight[1] += 1
            else:
                chosen.append((label, index))
                weight[0] /= len(values)
            return values[index]

        arch = freeze(spec, answer)
        key = (*chosen, (arch.config_hash, 0))
        if key not in seen_paths:
            seen_paths.add(key)
            on = dict(chosen).get(EDGE_COUNT_LABEL, 0)
            subset = 1 / math.comb(int(weight[1]), on) if weight[1] else 1.0
            probs[arch.config_hash] = probs.get(arch.config_hash, 0.0) + weight[0] * subset
            archs.setdefault(arch.config_hash, arch)
        if len(archs) + len(pending) > limit:
            raise SystemExit(f"the space has more than {limit} configurations")
    return {h: (archs[h], probs[h]) for h in archs}


def describe(arch: Arch) -> dict[str, Any]:
    """What distinguishes one config of ``SPACE``, for people reading the table."""
    cell = arch.layer("conv2").cell.model_dump(mode="json")
    return {
        "cell": cell,
        "feedback": [f"{e.source}->{e.target}" for e in arch.feedback],
        "lr": arch.training.lr if arch.training is not None else None,
    }


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

_DATA: Any = None


def train_one(arch_json: str, seed: int, dataset: str) -> dict[str, Any]:
    """One config trained with one seed (in a worker process, one thread): its validation
    accuracy after each epoch (0.0 for an epoch that diverged) and its training CPU time."""
    global _DATA
    from space.arch import arch_from_data
    from workers.config import TrainConfig
    from workers.data import load_dataset
    from workers.loop import train

    arch = arch_from_data(json.loads(arch_json))
    if _DATA is None:
        _DATA = load_dataset(dataset, arch.input.size, 1, arch.classes, seed=0)
    overrides: dict[str, Any] = {"threads": 1, "seed": seed, "device": "cpu"}
    cpu = time.process_time()
    result = train(arch, _DATA, TrainConfig.for_arch(arch, overrides))
    curve = [_finite(m.get("val_acc")) for m in result.history]
    epochs = TrainConfig.for_arch(arch).epochs
    curve += [0.0] * (epochs - len(curve))  # a diverged run stops early: chance-or-worse
    return {"val_acc": [round(v, 5) for v in curve], "cpu_s": round(time.process_time() - cpu, 3)}


def _finite(value: float | None) -> float:
    return float(value) if value is not None and math.isfinite(value) else 0.0


def load_table(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    doc: dict[str, Any] = json.loads(path.read_text())
    if doc.get("format") != FORMAT:
        raise SystemExit(f"--out: {path} is not a {FORMAT} table (format {doc.get('format')!r})")
    return doc


def save_table(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    os.chmod(f.name, 0o644)  # a temporary file is private; the table is not
    os.replace(f.name, path)  # a build killed mid-write keeps the previous table


def build(spec_data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The table at ``args.out``, completed: every config x seed trained that is missing."""
    configs = enumerate_configs(spec_from_data(spec_data))
    doc = load_table(args.out)
    if doc and doc.get("space") != spec_data:
        raise SystemExit(f"--out: {args.out} was built for another space; choose another file")
    doc.setdefault("format", FORMAT)
    doc["space"], doc["dataset"] = spec_data, args.dataset
    table: dict[str, Any] = doc.setdefault("configs", {})
    for key, (arch, prob) in configs.items():
        entry = table.setdefault(key, {"runs": {}})
        entry.update(describe(arch), p_random=prob)
    todo = [(k, s) for k in configs for s in args.seeds if str(s) not in table[k]["runs"]]
    _progress(f"{len(configs)} configs x {len(args.seeds)} seeds: {len(todo)} trainings to do")
    started = time.perf_counter()
    jobs = [(configs[k][0].to_json(), s, args.dataset) for k, s in todo]
    for done, ((key, seed), run) in enumerate(zip(todo, _run(jobs, args.workers), strict=True), 1):
        table[key]["runs"][str(seed)] = run
        built = doc.setdefault("built", {"cpu_seconds": 0.0})
        built["cpu_seconds"] = round(built["cpu_seconds"] + run["cpu_s"], 1)
        save_table(args.out, doc)
        _report(done, len(todo), started)
    doc["built"].update(
        machine=f"{platform.machine()}, {os.cpu_count()} cores", workers=args.workers
    )
    save_table(args.out, doc)
    return doc


def _run(jobs: list[tuple[str, int, str]], workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1 or not jobs:  # in this process: no second torch import
        yield from (train_one(*job) for job in jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(train_one, *zip(*jobs, strict=True))


def _report(done: int, total: int, started: float) -> None:
    if done % 10 and done != total:
        return
    elapsed = time.perf_counter() - started
    left = elapsed / done * (total - done)
    _progress(f"  {done}/{total} trained, {elapsed:.0f} s so far, ~{left:.0f} s left")


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The table's size, spread and cost, and how far its seeds agree."""
    runs = [run for entry in doc["configs"].values() for run in entry["runs"].values()]
    seeds = sorted({s for entry in doc["configs"].values() for s in entry["runs"]})
    best = {s: [max(e["runs"][s]["val_acc"]) for e in doc["configs"].values()] for s in seeds}
    out: dict[str, Any] = {
        "configs": len(doc["configs"]),
        "seeds": seeds,
        "trainings": len(runs),
        "cpu_seconds": doc.get("built", {}).get("cpu_seconds"),
        "cpu_s_per_training": round(statistics.fmean(r["cpu_s"] for r in runs), 2),
        "best_by_seed": {s: round(max(v), 4) for s, v in best.items()},
        "median_by_seed": {s: round(statistics.median(v), 4) for s, v in best.items()},
    }
    if len(seeds) >= 2:
        out["seed_correlation"] = round(statistics.correlation(best[seeds[0]], best[seeds[1]]), 3)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the table (JSON)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds")
    parser.add_argument("--workers", type=int, default=2, help="training processes")
    parser.add_argument("--dataset", default="digits", help="the dataset reference trained on")
    parser.add_argument("--json", action="store_true", help="print a summary document")
    parser.add_argument("--smoke", action="store_true", help=f"tiny run: defaults {SMOKE}")
    if parser.parse_known_args(argv)[0].smoke:
        parser.set_defaults(**SMOKE, out=Path(tempfile.mkdtemp()) / "table.json")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers: must be at least 1, got {args.workers}")
    return args


def main() -> None:
    args = parse_args()
    doc = build(SMOKE_SPACE if args.smoke else SPACE, args)
    report = {"table": str(args.out), **summary(doc)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()

"""Search efficiency: TPE against random sampling on a fixed small space, over many seeds.

    .venv/bin/python bench/search_efficiency.py [--trials 40] [--seeds 40] [--workers 1]
        [--table /tmp/search_efficiency_table.json] [--json]
    .venv/bin/python bench/search_efficiency.py --smoke --json    # a tiny space, seconds

The space (``SPACE`` below: a 3-layer ConvRNN on the built-in ``digits`` at 16 px, T = 6, with
a shared memoryless rgc cell's tau kernel and out residual, up to two of three feedback edges,
and the Adam learning rate: 112 configurations) is small enough to enumerate: every distinct
configuration (architecture plus training) is trained once for real (2 epochs, seed 0, one CPU
thread, about 3 s each on an idle core) and its best validation accuracy recorded in a table
(``--table`` keeps it between runs; a config's key is its ``config_hash``). Each search then
costs only table look-ups, so many sampler seeds are affordable and every arm sees the same
landscape (one training per config: its seed noise is part of the landscape). The samplers are the
product's own: ``search.run.optuna_bridge.make_sampler`` and ``OptunaSampler`` over
``space.sampling.freeze`` (feedback edges as a count plus per-candidate priorities), exactly as
a search runs them.

Figures, per arm (``random`` and ``tpe`` as ``search.sampler`` builds them, and other TPE
settings, see ``ARMS``):

- ``best_so_far``: the mean over seeds of the best accuracy after 1..N trials;
- ``random_best_of_n``: random's mean best after N trials; ``trials_to_match``: the first trial
  count at which the arm's mean best reaches it (goal for TPE: N/2 or fewer);
- ``reached_by_half``: the share of seeds whose best after N/2 trials reaches it;
- ``distinct``: mean distinct configs tried in N trials (a repeat is a trial, as in a search,
  but trains nothing);
- the table's optimum and spread, for scale.

Not a test: the table depends on torch's CPU kernels (the figures on the machine only through
it). ``--json`` prints one JSON document on stdout, progress goes to stderr. ``--smoke`` only
changes the defaults (an 8-config space, 2 training steps on 200 images, 2 seeds, 6 trials):
it checks that the benchmark runs; its figures mean nothing. ``tests/test_bench_smoke.py`` runs it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import optuna

from search.run.optuna_bridge import OptunaSampler, make_sampler, tpe_startup
from space.arch import Arch
from space.params import FloatRange, SearchDomain, finite_values
from space.sampling import freeze
from space.spec import SearchSpec, spec_from_data

SPACE: dict[str, Any] = {
    "name": "search_efficiency",
    "dataset": "digits",
    "input": {"size": 16, "channels": 1},
    "classes": 10,
    "layers": [
        {"name": "conv1", "channels": 8, "kernel": 3, "pool": 2},
        {
            "name": "conv2",
            "channels": 8,
            "kernel": 3,
            "activation": "identity",
            "cell": "main",
        },
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
            "kind": "rgc",
            "cell_depth": 0,  # no memory: the output gates itself (cheap to train)
            "tau_filter_size": {"choice": [1, 3]},
            "out_residual": {"bool": "any"},
        }
    },
    "feedback": {"candidates": "later_to_earlier", "max_edges": 2},
    "time": {"steps": 6, "readout": "last"},
    "training": {
        "optimizer": "adam",
        "lr": {"choice": [0.001, 0.003, 0.01, 0.03]},
        "batch_size": 64,
        "epochs": 2,
    },
}
# --smoke: 2 tau kernels x 2 learning rates x 2 edge sets, 2 optimizer steps on 200 images
SMOKE_SPACE: dict[str, Any] = {
    **SPACE,
    "cells": {"main": {"kind": "rgc", "tau_filter_size": {"choice": [1, 3]}}},
    "feedback": {"candidates": [{"source": "conv3", "target": "conv2"}]},
    "training": {**SPACE["training"], "lr": {"choice": [0.003, 0.03]}},
}
SMOKE = {"trials": 6, "seeds": 2, "max_steps": 2, "dataset": "digits:limit=200"}
# The product's samplers (search.sampler: random | tpe), and TPE's other settings for comparison:
# ``tpe-10`` is Optuna's default of 10 random startup trials (the product's TPE before it scaled
# them to the budget: see search.run.optuna_bridge.tpe_startup). Optuna 5's TPE is multivariate by
# default for one objective (jointly over the parameters every trial has, the rest
# independently); ``group`` splits a conditional space into the groups of parameters that occur
# together and models each jointly; ``indep`` is the classic univariate TPE.
ARMS: dict[str, Callable[[int, int], optuna.samplers.BaseSampler]] = {
    "random": lambda seed, trials: make_sampler("random", seed=seed, n_objectives=1, trials=trials),
    "tpe": lambda seed, trials: make_sampler("tpe", seed=seed, n_objectives=1, trials=trials),
    "tpe-10": lambda seed, _: optuna.samplers.TPESampler(seed=seed, n_startup_trials=10),
    "tpe-group": lambda seed, trials: optuna.samplers.TPESampler(
        seed=seed, multivariate=True, group=True, n_startup_trials=tpe_startup(trials)
    ),
    "tpe-indep": lambda seed, trials: optuna.samplers.TPESampler(
        seed=seed, multivariate=False, n_startup_trials=tpe_startup(trials)
    ),
}


# --------------------------------------------------------------------------------------------
# The table: every distinct configuration, trained once
# --------------------------------------------------------------------------------------------


def enumerate_configs(spec: SearchSpec, limit: int = 100_000) -> dict[str, Arch]:
    """Every distinct config of ``spec`` by ``config_hash``: a walk of every path of the
    define-by-run tree (an edge priority takes 0 or 1, which reaches every edge subset)."""
    configs: dict[str, Arch] = {}
    pending: list[list[int]] = [[]]
    while pending:
        prefix = pending.pop()
        path: list[int] = []

        def answer(
            label: str, domain: SearchDomain, prefix: list[int] = prefix, path: list[int] = path
        ) -> Any:
            values = finite_values(domain)
            if values is None:
                if not (isinstance(domain, FloatRange) and label.endswith(".priority")):
                    raise SystemExit(f"{label}: continuous parameters cannot be enumerated")
                values = (domain.low, domain.high)
            if len(path) < len(prefix):
                index = prefix[len(path)]
            else:
                index = 0
                pending.extend([*path, alt] for alt in range(1, len(values)))
            path.append(index)
            return values[index]

        arch = freeze(spec, answer)
        configs.setdefault(arch.config_hash, arch)
        if len(configs) + len(pending) > limit:
            raise SystemExit(f"the space has more than {limit} configurations")
    return configs


_DATA: Any = None


def _train_one(arch_json: str, dataset: str, max_steps: int | None) -> float:
    """Best validation accuracy of one config (in a worker process: one thread, seed 0)."""
    global _DATA
    from space.arch import arch_from_data
    from workers.config import TrainConfig
    from workers.data import load_dataset
    from workers.loop import train

    arch = arch_from_data(json.loads(arch_json))
    if _DATA is None:
        _DATA = load_dataset(dataset, arch.input.size, 1, arch.classes, seed=0)
    overrides: dict[str, Any] = {"threads": 1, "seed": 0, "device": "cpu"}
    if max_steps is not None:
        overrides["max_steps"] = max_steps
    result = train(arch, _DATA, TrainConfig.for_arch(arch, overrides))
    return float(result.best_val_acc or 0.0)  # a diverged run counts as chance-or-worse: 0


def build_table(
    configs: dict[str, Arch], args: argparse.Namespace, path: Path | None
) -> dict[str, float]:
    """Accuracy by config hash: read from ``path`` where known, the rest trained (and saved)."""
    table: dict[str, float] = {}
    if path is not None and path.exists():
        table = {k: float(v) for k, v in json.loads(path.read_text()).items()}
    todo = [h for h in configs if h not in table]
    started = time.perf_counter()
    if todo:
        _progress(f"training {len(todo)} of {len(configs)} configs ({args.workers} workers)")
    jobs = [(configs[h].to_json(), args.dataset, args.max_steps) for h in todo]
    if args.workers > 1:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            results = pool.map(_train_one, *zip(*jobs, strict=True)) if jobs else iter(())
            _collect(todo, results, table, started, path)
    else:  # in this process: no second torch import
        _collect(todo, (_train_one(*job) for job in jobs), table, started, path)
    return {h: table[h] for h in configs}


def _collect(
    todo: list[str],
    results: Iterator[float],
    table: dict[str, float],
    started: float,
    path: Path | None,
) -> None:
    for done, (key, accuracy) in enumerate(zip(todo, results, strict=True), 1):
        table[key] = accuracy
        if done % 10 == 0 or done == len(todo):
            rate = (time.perf_counter() - started) / done
            _progress(f"  {done}/{len(todo)} trained, {rate:.1f} s each")
            if path is not None:
                path.write_text(json.dumps(table, sort_keys=True))


# --------------------------------------------------------------------------------------------
# Searches over the table
# --------------------------------------------------------------------------------------------


def run_search(
    spec: SearchSpec, table: dict[str, float], arm: str, seed: int, trials: int
) -> tuple[list[float], int]:
    """(accuracy of each trial in order, distinct configs tried) of one seeded search."""
    study = optuna.create_study(direction="maximize", sampler=ARMS[arm](seed, trials))
    seen: list[str] = []

    def objective(trial: optuna.Trial) -> float:
        key = freeze(spec, OptunaSampler(trial)).config_hash
        seen.append(key)
        return table[key]

    study.optimize(objective, n_trials=trials)
    return [table[key] for key in seen], len(set(seen))


def best_so_far(values: list[float]) -> list[float]:
    out: list[float] = []
    for value in values:
        out.append(max(value, out[-1]) if out else value)
    return out


def summarise(runs: dict[str, list[tuple[list[float], int]]], trials: int) -> dict[str, Any]:
    curves = {
        arm: [
            statistics.fmean(c[i] for c in (best_so_far(v) for v, _ in rs)) for i in range(trials)
        ]
        for arm, rs in runs.items()
    }
    target = curves["random"][-1]
    half = max(1, trials // 2)
    arms: dict[str, Any] = {}
    for arm, rs in runs.items():
        match = next((i + 1 for i, v in enumerate(curves[arm]) if v >= target - 1e-12), None)
        reached = [best_so_far(v)[half - 1] >= target - 1e-12 for v, _ in rs]
        arms[arm] = {
            "best_so_far": [round(v, 4) for v in curves[arm]],
            "final_best_mean": round(curves[arm][-1], 4),
            "final_best_sd": round(statistics.pstdev(max(v) for v, _ in rs), 4),
            "trials_to_match": match,
            "reached_by_half": round(sum(reached) / len(reached), 3),
            "distinct": round(statistics.fmean(d for _, d in rs), 1),
        }
    return {"random_best_of_n": round(target, 4), "half": half, "arms": arms}


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="trials per search (N)")
    parser.add_argument("--seeds", type=int, default=40, help="sampler seeds per arm")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--workers", type=int, default=1, help="training processes")
    parser.add_argument("--max-steps", type=int, default=None, help="cap each training")
    parser.add_argument("--dataset", default="digits", help="the dataset reference trained on")
    parser.add_argument("--table", type=Path, default=None, help="JSON file caching the table")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--smoke", action="store_true", help=f"tiny run: defaults {SMOKE}")
    if parser.parse_known_args(argv)[0].smoke:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    if "random" not in args.arms:
        args.arms = ["random", *args.arms]  # the reference every figure is measured against
    return args


def main() -> None:
    args = parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    spec = spec_from_data(SMOKE_SPACE if args.smoke else SPACE)
    configs = enumerate_configs(spec)
    table = build_table(configs, args, args.table)
    runs: dict[str, list[tuple[list[float], int]]] = {}
    for arm in args.arms:
        started = time.perf_counter()
        runs[arm] = [run_search(spec, table, arm, seed, args.trials) for seed in range(args.seeds)]
        _progress(f"{arm}: {args.seeds} searches in {time.perf_counter() - started:.1f} s")
    values = sorted(table.values())
    doc = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "space": {
            "configs": len(table),
            "best": round(values[-1], 4),
            "median": round(statistics.median(values), 4),
            "worst": round(values[0], 4),
            "top_5_percent": round(values[int(0.95 * (len(values) - 1))], 4),
        },
        **summarise(runs, args.trials),
    }
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print_report(doc, args.trials)


def print_report(doc: dict[str, Any], trials: int) -> None:
    space = doc["space"]
    print(
        f"{space['configs']} configs: best {space['best']:.3f}, top 5% {space['top_5_percent']:.3f}"
        f", median {space['median']:.3f}, worst {space['worst']:.3f}"
    )
    print(f"random's mean best of {trials}: {doc['random_best_of_n']:.4f}")
    marks = sorted({m for m in (1, 5, 10, 15, 20, 30, 40, 60, 80, trials) if m <= trials})
    print(
        f"{'arm':>9} "
        + " ".join(f"{'@' + str(m):>7}" for m in marks)
        + "   match  by N/2  distinct"
    )
    for arm, row in doc["arms"].items():
        curve = row["best_so_far"]
        cells = " ".join(f"{curve[m - 1]:>7.4f}" for m in marks)
        match = row["trials_to_match"] if row["trials_to_match"] is not None else "-"
        print(
            f"{arm:>9} {cells}   {match!s:>5}  {row['reached_by_half']:>6.2f}  {row['distinct']:>8}"
        )


if __name__ == "__main__":
    main()

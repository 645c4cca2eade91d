"""Orchestration overhead: the convnas driver versus plain Ray Tune + OptunaSearch (no database).

The same tiny trainable (a fixed sleep per epoch, no torch) runs N trials both ways on one shared
local Ray runtime, with the same concurrency; per-trial overhead = (wall time - ideal time) / N,
where the ideal is the trainable's own sleeping time divided by the concurrency.

    .venv/bin/python bench/orchestration_overhead.py --trials 16 --concurrency 2 [--db URL]

The convnas path adds, per trial: freezing the DSL sample into an Arch, the analytic cost and
constraint check, the duplicate query, one trial row, one metrics row per epoch, Optuna's study in
SQL (RDBStorage) instead of memory, and the heartbeat/cancel poll (once a second).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

EPOCH_SECONDS = 0.2
EPOCHS = 2


def tiny_trainable(config: dict[str, Any]) -> None:
    from ray import tune

    for epoch in range(1, EPOCHS + 1):
        time.sleep(EPOCH_SECONDS)
        acc = 0.5 + 0.01 * epoch
        tune.report(
            {"epoch": epoch, "val_acc": acc, "train_loss": 1.0, "val_loss": 1.0,
             "val_acc_per_step": [acc], "images_per_sec": 1.0, "elapsed": epoch * EPOCH_SECONDS,
             "status": "completed" if epoch == EPOCHS else "running"}
        )  # fmt: skip


def spec_data(trials: int, concurrency: int) -> dict[str, Any]:
    return {
        "name": "overhead",
        "dataset": "digits",
        "input": {"size": 8, "channels": 1},
        "classes": 10,
        "layers": [{"name": "conv1", "channels": {"int": [2, 64]}, "kernel": 3}],
        "training": {"lr": {"float": [0.001, 0.5], "log": True}, "epochs": EPOCHS},
        "search": {"trials": trials, "concurrency": concurrency, "scheduler": "fifo", "seed": 0},
    }


def space(trial: Any) -> None:
    """The plain run's define-by-run space (module level: Tune pickles the searcher)."""
    trial.suggest_int("channels", 2, 64)
    trial.suggest_float("lr", 0.001, 0.5, log=True)


def run_convnas(trials: int, concurrency: int, db_url: str, runs: Path) -> float:
    from search.db import get_engine
    from search.driver import create_search, run_search
    from space.spec import spec_from_data

    spec = spec_from_data(spec_data(trials, concurrency))
    search_id = create_search(get_engine(db_url), spec)
    start = time.perf_counter()
    outcome = run_search(
        search_id, db_url=db_url, trainable=tiny_trainable, runs_dir=runs, trial_config={}
    )
    took = time.perf_counter() - start
    assert outcome.finished == trials, outcome
    return took


def run_plain(trials: int, concurrency: int, runs: Path) -> float:
    import optuna
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.perf_counter()
    tuner = tune.Tuner(
        tune.with_resources(tiny_trainable, {"cpu": 1}),
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearch(space=space, metric="val_acc", mode="max", seed=0),
            num_samples=trials,
            max_concurrent_trials=concurrency,
        ),
        run_config=tune.RunConfig(
            name=f"plain-{time.time_ns()}", storage_path=str(runs), verbose=0
        ),
    )
    tuner.fit()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import ray

    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    ray.init(num_cpus=args.concurrency, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        db_url = args.db or f"sqlite:///{runs / 'bench.db'}"
        run_plain(2, args.concurrency, runs)  # warm the workers' imports
        plain = run_plain(args.trials, args.concurrency, runs)
        convnas = run_convnas(args.trials, args.concurrency, db_url, runs)
    ray.shutdown()
    ideal = args.trials * EPOCHS * EPOCH_SECONDS / args.concurrency
    result = {
        "trials": args.trials,
        "concurrency": args.concurrency,
        "ideal_seconds": round(ideal, 2),
        "plain_seconds": round(plain, 2),
        "convnas_seconds": round(convnas, 2),
        "plain_overhead_per_trial_s": round((plain - ideal) / args.trials, 3),
        "convnas_overhead_per_trial_s": round((convnas - ideal) / args.trials, 3),
    }
    result["ratio"] = round(
        result["convnas_overhead_per_trial_s"] / max(result["plain_overhead_per_trial_s"], 1e-9), 2
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:32s} {value}")


if __name__ == "__main__":
    main()

"""Search efficiency: TPE against random sampling, replayed over a table of trained configurations.

    .venv/bin/python bench/search_efficiency.py [--table bench/data/efficiency_table.json]
        [--trials 20 40 100] [--concurrency 1 8 32] [--seeds 40] [--arms ...] [--workers 2] [--json]
    .venv/bin/python bench/search_efficiency.py --smoke --json    # a few searches, seconds

The table (``bench/efficiency_table.py`` builds it; it ships under ``bench/data/``) holds every
configuration of a small space trained with two seeds, its validation accuracy after each
epoch and its training time. A search here costs only table look-ups, so many sampler seeds are
affordable and every arm sees the same landscape. The samplers are the product's own
(``search.run.optuna_bridge.make_sampler`` and ``OptunaSampler`` over ``space.sampling.freeze``),
asked and told in the order a real search would:

- **Concurrency**: ``c`` trials are in flight; the next proposal is asked when the first of them
  finishes, in the order their training times in the table give (asynchronous, as Ray Tune
  runs them). TPE with the constant liar (the product's) sees the trials in flight; without it,
  they are invisible to it.
- **ASHA**: the product's scheduler (``search.run.tune_adapters.scheduler``: rungs from
  ``asha_grace_period`` epochs, reduction factor 2, Tune's cutoff rule) stops a trial whose
  accuracy at a rung is below the median recorded there; the trial is told to Optuna as pruned
  at its last epoch's accuracy, as the ledger does.
- **Landscapes**: ``mean`` (each epoch's accuracy averaged over the seeds) and each seed's own.

Figures:

- ``random_expected``: random sampling's expected best of N, computed exactly from the table and
  each configuration's probability under random sampling (no simulation noise);
- ``trials_to_match``: the first trial count at which an arm's best so far, averaged over the
  search seeds, reaches it; ``interval``: the 5th and 95th percentiles of that count over
  bootstrap resamples of the search seeds (None where a resample never reaches it in N trials);
- ``epochs_to_match``: the same against epochs spent (ASHA against FIFO);
- ``mean_best`` / ``sd_best`` after N trials, ``distinct`` configurations tried.

Not a test: the table depends on torch's CPU kernels. ``--json`` prints one JSON document on
stdout; progress goes to stderr. ``--smoke`` only changes the defaults (4 seeds, 12 trials,
concurrency 1 and 4, 50 bootstrap resamples): it checks that the replay runs.
"""

from __future__ import annotations

import argparse
import heapq
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from efficiency_table import DEFAULT_OUT, enumerate_configs
from optuna.trial import TrialState

from search.run.optuna_bridge import OptunaSampler, make_sampler, tpe_options
from space.sampling import freeze
from space.spec import SearchSpec, spec_from_data


def tpe_variant(**changes: Any) -> Callable[[int, int], optuna.samplers.BaseSampler]:
    """The product's single-objective TPE (``search.run.optuna_bridge.tpe_options``) with only
    ``changes`` made, so that a variant follows the product's other settings."""

    def make(seed: int, trials: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(seed=seed, **{**tpe_options(trials), **changes})

    return make


# The product's samplers (search.sampler: random | tpe), and the product's TPE with one setting
# changed: ``tpe-noliar`` without the constant liar (trials in flight are invisible to it);
# ``tpe-10`` with Optuna's fixed 10 random startup trials instead of a tenth of the budget. The
# others (issue 21's candidates; only on request with --arms): ``tpe-1``, one startup trial;
# ``tpe-group``, multivariate over each conditional branch's parameters (``group``);
# ``tpe-indep``, univariate; ``tpe-ei48``, 48 expected-improvement candidates instead of 24;
# ``tpe-endpoints`` and ``tpe-prior2`` / ``tpe-prior05`` (Optuna 5 deprecates both arguments).
ARMS: dict[str, Callable[[int, int], optuna.samplers.BaseSampler]] = {
    "random": lambda seed, trials: make_sampler("random", seed=seed, n_objectives=1, trials=trials),
    "tpe": lambda seed, trials: make_sampler("tpe", seed=seed, n_objectives=1, trials=trials),
    "tpe-noliar": tpe_variant(constant_liar=False),
    "tpe-10": tpe_variant(n_startup_trials=10),
}
DEFAULT_ARMS = list(ARMS)
ARMS.update(
    {
        "tpe-1": tpe_variant(n_startup_trials=1),
        "tpe-group": tpe_variant(multivariate=True, group=True),
        "tpe-indep": tpe_variant(multivariate=False),
        "tpe-ei48": tpe_variant(n_ei_candidates=48),
        "tpe-endpoints": tpe_variant(consider_endpoints=True),
        "tpe-prior2": tpe_variant(prior_weight=2.0),
        "tpe-prior05": tpe_variant(prior_weight=0.5),
    }
)
SMOKE = {"seeds": 4, "trials": [12], "concurrency": [1, 4], "bootstrap": 50, "asha_trials": 12}
ASHA_REDUCTION = 2  # search.run.tune_adapters.scheduler's reduction_factor


# --------------------------------------------------------------------------------------------
# The landscape: a table seen through one seed (or the mean of the seeds)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Landscape:
    curves: dict[str, list[float]]  # config hash -> validation accuracy after each epoch
    seconds: dict[str, float]  # config hash -> training time (CPU seconds)
    prob: dict[str, float]  # config hash -> probability under random sampling

    @property
    def epochs(self) -> int:
        return len(next(iter(self.curves.values())))

    def best(self, key: str) -> float:
        return max(self.curves[key])

    def expected_best_of(self, n: int) -> float:
        """Random sampling's exact expected best of ``n``: sum over values v (ascending) of
        v * (F(v)^n - F(v-)^n), F the distribution of one random trial's best."""
        total, below = 0.0, 0.0
        for value, p in sorted((self.best(k), p) for k, p in self.prob.items()):
            total += value * ((below + p) ** n - below**n)
            below += p
        return total / below**n  # below is 1 up to rounding


def landscape(doc: dict[str, Any], which: str) -> Landscape:
    """``which``: ``mean`` or a training seed of the table ("0", "1", ...)."""
    configs = doc["configs"]
    seeds = sorted({s for entry in configs.values() for s in entry["runs"]})
    use = seeds if which == "mean" else [which]
    if which != "mean" and which not in seeds:
        raise SystemExit(f"--landscapes: {which!r} is no seed of the table ({seeds} or mean)")
    curves, seconds = {}, {}
    for key, entry in configs.items():
        runs = [entry["runs"][s] for s in use]
        curves[key] = [statistics.fmean(e) for e in zip(*(r["val_acc"] for r in runs), strict=True)]
        seconds[key] = statistics.fmean(r["cpu_s"] for r in runs)
    return Landscape(curves, seconds, {k: e["p_random"] for k, e in configs.items()})


def load(path: Path) -> dict[str, Any]:
    """The table, checked against this checkout's enumeration of its space."""
    if not path.exists():
        raise SystemExit(f"--table: {path} does not exist; build it with bench/efficiency_table.py")
    doc: dict[str, Any] = json.loads(path.read_text())
    missing = set(enumerate_configs(spec_from_data(doc["space"]))) - set(doc["configs"])
    if missing:
        raise SystemExit(
            f"--table: {len(missing)} configurations of its space are not in {path} (the "
            "architecture's canonical form changed?): rebuild it with bench/efficiency_table.py"
        )
    return doc


# --------------------------------------------------------------------------------------------
# One search, replayed
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    landscape: str
    arm: str
    trials: int
    concurrency: int
    scheduler: str  # fifo | asha
    seed: int


@dataclass
class _Running:
    trial: optuna.Trial
    key: str
    epoch: int = 0  # epochs done
    pruned: bool | None = None  # None while training
    waiting: list[optuna.Trial] = field(default_factory=list)  # its duplicates asked meanwhile


Outcome = tuple[float, int, str]  # a trial's best accuracy, the epochs it trained, its config


def replay(spec: SearchSpec, land: Landscape, job: Job) -> list[Outcome]:
    """(best accuracy reached, epochs trained, config) of each trial, in finishing order:
    ``job.concurrency`` trials in flight, events in the order of their training times.

    A config the search already tried is a duplicate, settled as the ledger settles it: it
    counts as a trial, trains nothing (0 epochs, no slot), and takes its original's outcome
    (at once, or when the original finishes)."""
    study = optuna.create_study(direction="maximize", sampler=ARMS[job.arm](job.seed, job.trials))
    per_epoch = {k: s / land.epochs for k, s in land.seconds.items()}
    recorded: dict[int, list[float]] = {
        rung: [] for rung in (_rungs(land.epochs) if job.scheduler == "asha" else [])
    }
    events: list[tuple[float, int, _Running]] = []
    tried: dict[str, _Running] = {}
    done: list[Outcome] = []
    asked, clock = 0, 0.0
    while len(done) < job.trials:
        while len(events) < job.concurrency and asked < job.trials:
            trial, asked = study.ask(), asked + 1
            key = freeze(spec, OptunaSampler(trial)).config_hash
            if key not in tried:
                tried[key] = _Running(trial, key)
                heapq.heappush(events, (clock + per_epoch[key], asked, tried[key]))
            elif tried[key].pruned is None:
                tried[key].waiting.append(trial)
            else:
                done.append(_settle(study, trial, tried[key], land, 0))
        if not events:  # the last trials were duplicates of finished ones
            break
        clock, order, run = heapq.heappop(events)
        run.epoch += 1
        value = land.curves[run.key][run.epoch - 1]
        if run.epoch < land.epochs and not (
            run.epoch in recorded and _stopped(recorded[run.epoch], value)
        ):
            if run.epoch in recorded:
                recorded[run.epoch].append(value)
            heapq.heappush(events, (clock + per_epoch[run.key], order, run))
            continue
        run.pruned = run.epoch < land.epochs
        done.append(_settle(study, run.trial, run, land, run.epoch))
        done.extend(_settle(study, dup, run, land, 0) for dup in run.waiting)
    return done[: job.trials]


def _settle(
    study: optuna.Study, trial: optuna.Trial, run: _Running, land: Landscape, epochs: int
) -> Outcome:
    """Tell Optuna how ``run`` ended, for its own trial or a duplicate's, as the ledger does:
    completed with its best accuracy, or pruned at its last epoch's accuracy."""
    curve = land.curves[run.key][: run.epoch]
    if run.pruned:
        trial.report(curve[-1], run.epoch)  # Optuna ranks a pruned trial by it
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, max(curve))
    return max(curve), epochs, run.key


def _rungs(epochs: int) -> list[int]:
    """The epochs at which the product's ASHA may stop a trial (below the last epoch)."""
    from search.run.tune_adapters import asha_grace_period

    rung, out = asha_grace_period(epochs), []
    while rung < epochs:
        out.append(rung)
        rung *= ASHA_REDUCTION
    return out


def _stopped(recorded: list[float], value: float) -> bool:
    """Tune's ASHA rule: stop below the (1 - 1/rf) percentile of the values recorded so far
    at this rung (the value is recorded only if the trial goes on)."""
    if not recorded:
        return False
    return value < float(np.nanpercentile(recorded, (1 - 1 / ASHA_REDUCTION) * 100))


# --------------------------------------------------------------------------------------------
# Many searches, in worker processes
# --------------------------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _init(table: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module="optuna")  # deprecated args
    doc = load(Path(table))
    _STATE["spec"] = spec_from_data(doc["space"])
    _STATE["doc"] = doc
    _STATE["lands"] = {}


def _run_job(job: Job) -> tuple[Job, list[Outcome]]:
    lands = _STATE["lands"]
    if job.landscape not in lands:
        lands[job.landscape] = landscape(_STATE["doc"], job.landscape)
    return job, replay(_STATE["spec"], lands[job.landscape], job)


def run_all(jobs: list[Job], table: Path, workers: int) -> dict[Job, list[Outcome]]:
    started = time.perf_counter()
    if workers <= 1:
        _init(str(table))
        return _collect(map(_run_job, jobs), len(jobs), started)
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(str(table),)) as pool:
        return _collect(pool.map(_run_job, jobs, chunksize=4), len(jobs), started)


def _collect(results: Any, total: int, started: float) -> dict[Job, list[Outcome]]:
    out = {}
    for done, (job, trials) in enumerate(results, 1):
        out[job] = trials
        if done % 50 == 0 or done == total:
            elapsed = time.perf_counter() - started
            left = elapsed / done * (total - done)
            _progress(f"  {done}/{total} searches, {elapsed:.0f} s, ~{left:.0f} s left")
    return out


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def best_so_far(values: list[float]) -> list[float]:
    return list(np.maximum.accumulate(values)) if values else []


def first_reaching(curve: np.ndarray, target: float) -> int | None:
    """The 1-based index of the first value of ``curve`` at or above ``target``."""
    hits = np.nonzero(curve >= target - 1e-12)[0]
    return int(hits[0]) + 1 if len(hits) else None


def match_with_interval(
    curves: np.ndarray, target: float, bootstrap: int, rng: np.random.Generator
) -> dict[str, Any]:
    """``curves``: [seeds, steps] best so far. The first step whose seed-mean reaches
    ``target``, and its 90% bootstrap interval over the seeds (a bound is None where over 5%
    of the resamples do not reach it within the steps)."""
    match = first_reaching(curves.mean(axis=0), target)
    picks = rng.integers(0, len(curves), size=(bootstrap, len(curves)))
    resampled = [first_reaching(curves[p].mean(axis=0), target) for p in picks]
    steps = np.array([np.inf if r is None else r for r in resampled])
    bounds = [np.percentile(steps, 5, method="lower"), np.percentile(steps, 95, method="higher")]
    return {
        "match": match,
        "interval": [int(b) if np.isfinite(b) else None for b in bounds],
        "resamples_reaching": round(float(np.isfinite(steps).mean()), 3),
    }


def by_epochs(trials: list[Outcome], budget: int) -> np.ndarray:
    """Best so far after each epoch spent (1..budget), trials finishing in order."""
    out = np.zeros(budget)
    spent, best = 0, 0.0
    for value, epochs, _ in trials:
        out[spent : min(budget, spent + epochs)] = best
        spent += epochs
        best = max(best, value)
        if spent >= budget:
            break
        out[spent:] = best
    return out


def summarise_group(
    runs: list[list[Outcome]], target: float, bootstrap: int, epochs: int
) -> dict[str, Any]:
    """One arm's searches (one per seed) against ``target``: the trials and the epochs spent
    (``epochs`` per trained trial at most) to reach it, with intervals, and the best after all
    trials."""
    rng = np.random.default_rng(0)
    curves = np.array([best_so_far([v for v, _, _ in r]) for r in runs])
    finals = curves[:, -1]
    trials = match_with_interval(curves, target, bootstrap, rng)
    budget = len(curves[0]) * epochs
    spent = match_with_interval(
        np.array([by_epochs(r, budget) for r in runs]), target, bootstrap, rng
    )
    return {
        "trials_to_match": trials["match"],
        "interval": trials["interval"],
        "resamples_reaching": trials["resamples_reaching"],
        "epochs_to_match": spent["match"],
        "epochs_interval": spent["interval"],
        "mean_best": round(float(finals.mean()), 4),
        "sd_best": round(float(finals.std()), 4),
        "distinct": round(statistics.fmean(len({k for _, _, k in r}) for r in runs), 1),
        "epochs": round(statistics.fmean(sum(e for _, e, _ in r) for r in runs), 1),
    }


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The experiments
# --------------------------------------------------------------------------------------------


def plan(args: argparse.Namespace, seeds_of_table: list[str]) -> list[tuple[str, Job]]:
    """(experiment, job) pairs: ``concurrency`` (every arm on the seed-mean landscape),
    ``per_seed`` (random and TPE on each seed's landscape, one at a time and 8 in flight) and
    ``asha`` (ASHA against FIFO, random and TPE, in epochs)."""
    out: list[tuple[str, Job]] = []

    def add(name: str, land: str, arm: str, n: int, c: int, sched: str = "fifo") -> None:
        out.extend((name, Job(land, arm, n, c, sched, s)) for s in range(args.seeds))

    for n in args.trials:
        for c in args.concurrency:
            for arm in args.arms:
                if arm == "tpe-noliar" and c == 1:
                    continue  # one at a time nothing is in flight: the same as tpe
                add("concurrency", "mean", arm, n, c)
        for land in seeds_of_table:
            for c in sorted({1, args.concurrency[min(1, len(args.concurrency) - 1)]}):
                for arm in ("random", "tpe"):
                    add("per_seed", land, arm, n, c)
    for c in sorted({1, args.concurrency[min(1, len(args.concurrency) - 1)]}):
        for arm in ("random", "tpe"):
            for sched in ("fifo", "asha"):
                add("asha", "mean", arm, args.asha_trials, c, sched)
    return out


def figures(
    doc: dict[str, Any],
    planned: list[tuple[str, Job]],
    results: dict[Job, list[Outcome]],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """One row per experiment, landscape, arm, trials, concurrency and scheduler."""
    lands = {j.landscape: landscape(doc, j.landscape) for _, j in planned}
    groups: dict[tuple[str, str, str, int, int, str], list[list[Outcome]]] = {}
    for name, job in planned:
        key = (name, job.landscape, job.arm, job.trials, job.concurrency, job.scheduler)
        groups.setdefault(key, []).append(results[job])
    rows = []
    for (name, land, arm, n, c, sched), runs in groups.items():
        target_n = args.asha_target if name == "asha" else n
        target = lands[land].expected_best_of(target_n)
        rows.append(
            {
                "experiment": name,
                "landscape": land,
                "arm": arm,
                "trials": n,
                "concurrency": c,
                "scheduler": sched,
                "target_n": target_n,
                "random_expected": round(target, 4),
                **summarise_group(runs, target, args.bootstrap, lands[land].epochs),
            }
        )
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=DEFAULT_OUT, help="the table (JSON)")
    parser.add_argument("--trials", type=int, nargs="+", default=[20, 40, 100], help="N")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seeds", type=int, default=40, help="search seeds per arm")
    parser.add_argument("--arms", nargs="+", default=DEFAULT_ARMS, choices=list(ARMS))
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples of the seeds")
    parser.add_argument("--asha-trials", type=int, default=80, help="trials per ASHA search")
    parser.add_argument("--asha-target", type=int, default=40, help="ASHA: random's best of N")
    parser.add_argument("--workers", type=int, default=2, help="replay processes")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--smoke", action="store_true", help=f"tiny run: defaults {SMOKE}")
    if parser.parse_known_args(argv)[0].smoke:
        parser.set_defaults(**SMOKE, asha_target=12)
    args = parser.parse_args(argv)
    for name in ("trials", "concurrency"):
        bad = [v for v in getattr(args, name) if v < 1]
        if bad:
            parser.error(f"--{name}: must be at least 1, got {bad[0]}")
    if args.seeds < 2 or args.bootstrap < 1:
        parser.error(f"--seeds: at least 2 (got {args.seeds}); --bootstrap: at least 1")
    args.arms = ["random", *[a for a in args.arms if a != "random"]]  # the reference
    return args


def main() -> None:
    args = parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    doc = load(args.table)
    seeds = sorted({s for entry in doc["configs"].values() for s in entry["runs"]})
    planned = plan(args, seeds)
    _progress(
        f"{len(planned)} searches over {len(doc['configs'])} configs ({args.workers} workers)"
    )
    results = run_all(
        sorted({j for _, j in planned}, key=_cost, reverse=True), args.table, args.workers
    )
    report = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "table": table_summary(doc),
        "random_expected": {
            land: {n: round(landscape(doc, land).expected_best_of(n), 4) for n in args.trials}
            for land in ["mean", *seeds]
        },
        "rows": figures(doc, planned, results, args),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)


def _cost(job: Job) -> int:
    return job.trials * (1 if job.arm == "random" else 20)  # the long ones first


def table_summary(doc: dict[str, Any]) -> dict[str, Any]:
    seeds = sorted({s for entry in doc["configs"].values() for s in entry["runs"]})
    best = {land: landscape(doc, land) for land in ["mean", *seeds]}
    values = {land: sorted(map(b.best, b.curves)) for land, b in best.items()}
    out: dict[str, Any] = {
        "configs": len(doc["configs"]),
        "seeds": seeds,
        "epochs": best["mean"].epochs,
        "build_cpu_seconds": doc.get("built", {}).get("cpu_seconds"),
        "best": {land: round(v[-1], 4) for land, v in values.items()},
        "median": {land: round(statistics.median(v), 4) for land, v in values.items()},
    }
    if len(seeds) >= 2:
        first, second = (best[s] for s in seeds[:2])
        keys = list(first.curves)
        out["seed_correlation"] = round(
            statistics.correlation([first.best(k) for k in keys], [second.best(k) for k in keys]), 3
        )
    return out


def print_report(report: dict[str, Any]) -> None:
    table = report["table"]
    print(
        f"{table['configs']} configs x seeds {table['seeds']}, {table['epochs']} epochs; best "
        f"{table['best']}, median {table['median']}; r between seeds "
        f"{table.get('seed_correlation')}; built in {table['build_cpu_seconds']} CPU s"
    )
    print("random's exact expected best of N:", report["random_expected"])
    rows = report["rows"]
    for name, title in (
        ("concurrency", "trials to reach random's expected best of N (90% interval), seed-mean"),
        ("per_seed", "the same on each seed's own table"),
        ("asha", "ASHA against FIFO: epochs to reach random's expected best (90% interval)"),
    ):
        print(f"\n{title}")
        for row in (r for r in rows if r["experiment"] == name):
            print(
                f"  {row['landscape']:>4} {row['arm']:>10} N={row['trials']:<3}"
                f" c={row['concurrency']:<2} {row['scheduler']:>4}:"
                f" trials {row['trials_to_match']!s:>4} {row['interval']!s:>10}"
                f" epochs {row.get('epochs_to_match')!s:>4} {row.get('epochs_interval')!s:>10}"
                f"  best {row['mean_best']:.4f} (target {row['random_expected']:.4f})"
                f"  distinct {row['distinct']}  epochs/search {row['epochs']}"
            )


if __name__ == "__main__":
    main()

"""Scale: one search of thousands of trials through the real search path.

Everything is real but the training step: ``search.run.driver.run_search`` (the driver a runner
starts) with its Optuna study, ledger, records and Ray Tune, on a local Ray given ``--cpus``
logical CPUs (default 64) so that many trials run at once on a small machine. Each trial is
``sleep_trial``: it sleeps ``--trial-seconds`` over ``--epochs`` epochs and reports a checkpoint
folder every epoch as ``workers.trainable`` does (a 1 KiB ``weights.pt``), so Ray Tune's
checkpoint handling is exercised too. It imports no torch: a Ray worker that imported torch
would take ~400 MB, and 64 of them would not fit next to the driver.

Reported, per block of ``--block`` trials in finishing order:
  * ``overhead_s``: slot-seconds lost per trial, ``(C * span - B * T) / B`` for a block of B
    trials that finished within ``span`` seconds with C slots and T seconds of sleep per trial;
  * ``utilisation``: ``B * T / (C * span)``, busy slots over slots;
  * ``ask_ms``: Optuna ``Study.ask`` latency (p50 and p95) of the block's proposals;
  * ``rss_mb``: the driver process's resident memory when the block ended.
And at the end: the database's size per trial, the wall time against the ideal, and the API on
the finished search (leaderboard JSON page, the search's web page, the CSV: p50/p95 of
``--requests`` requests through the real app in-process).

``--real`` trains each trial for real instead (the product's ``train_arch`` on 300 digits at
8 px): overhead is then measured above each trial's recorded training time. Run it next to a
sleep run of the same concurrency and a sleep of the real trials' median: it shows what the seam
leaves out (the worker's torch import, data loading and model building are overhead there).

``--plain`` also runs the same trainable under plain Ray Tune with ``OptunaSearch`` (in-memory
study, nothing recorded; ``CheckpointConfig(num_to_keep=1)`` as a user keeping only the latest
checkpoint would), the anchor: its wall time and per-block figures. ``--resume-trials N`` also
drives a search of N trials as a runner does (``python -m search.run.runner``), SIGKILLs that
driver at ``--kill-at`` (0.8) of its trials and starts a new one: seconds until a trial starts
again, and the trials' statuses at the end.

    RAY_AUTH_MODE=disabled .venv/bin/python bench/scale.py --trials 1000 --concurrency 16 \
        --cpus 16 --trial-seconds 0.5 --plain --resume-trials 300
    RAY_AUTH_MODE=disabled .venv/bin/python bench/scale.py --trials 10000 --db URL --json
    RAY_AUTH_MODE=disabled .venv/bin/python bench/scale.py --smoke --json

``--smoke`` only changes the defaults (24 trials, 4 at a time, blocks of 8, 0.05 s trials, a
12-trial resume): it checks that the benchmark runs; its figures mean nothing.
``tests/test_bench_smoke.py`` runs it. Progress goes to stderr, the figures to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SMOKE = {
    "trials": 24,
    "concurrency": 4,
    "cpus": 4,
    "block": 8,
    "trial_seconds": 0.05,
    "resume_trials": 12,
}
STARTED = time.perf_counter()


def say(text: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.1f}s] {text}", file=sys.stderr, flush=True)


def sleep_trial(config: dict[str, Any]) -> None:
    """A trial without training: ``trial_seconds`` of sleep over its epochs, a checkpoint folder
    reported every epoch (module level: Ray ships it by value)."""
    import shutil
    import tempfile
    import time

    from ray import tune

    epochs = int(config["arch"]["training"]["epochs"])
    pause = float(config["trial_seconds"]) / epochs
    for epoch in range(1, epochs + 1):
        time.sleep(pause)
        folder = tempfile.mkdtemp(prefix="scale-ckpt-")
        Path(folder, "weights.pt").write_bytes(b"\0" * 1024)
        acc = 0.5 + 0.4 * float(config["arch"]["training"]["lr"])
        tune.report(
            {"epoch": epoch, "val_acc": acc, "train_loss": 1.0, "val_loss": 1.0,
             "val_acc_per_step": [acc], "images_per_sec": 1.0, "elapsed": epoch * pause,
             "status": "completed" if epoch == epochs else "running"},
            checkpoint=tune.Checkpoint.from_directory(folder),
        )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)  # persisted to the runs folder by now


def spec_data(args: argparse.Namespace) -> dict[str, Any]:
    """A space with a continuous learning rate, so that 10,000 proposals are all distinct."""
    return {
        "name": "scale",
        # --real trains for real: a few hundred digits keep each trial to about a second
        "dataset": "digits:limit=300" if args.real else "digits",
        "input": {"size": 8, "channels": 1},
        "classes": 10,
        "layers": [{"name": "conv1", "channels": {"int": [2, 64]}, "kernel": 3}],
        "time": {"steps": 2},
        "training": {"lr": {"float": [0.001, 0.5], "log": True}, "epochs": args.epochs},
        "search": {
            "trials": args.trials,
            "concurrency": args.concurrency,
            "scheduler": "fifo",
            "seed": 0,
        },
    }


# --------------------------------------------------------------------------------------------
# Probes: Optuna's ask, the driver's memory
# --------------------------------------------------------------------------------------------


@contextmanager
def timed_asks(log: list[tuple[float, float]]) -> Iterator[None]:
    """Record (when, seconds) of every ``optuna.Study.ask`` in this process."""
    import optuna

    original = optuna.Study.ask

    def ask(self: Any, *a: Any, **k: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(self, *a, **k)
        finally:
            log.append((start, time.perf_counter() - start))

    optuna.Study.ask = ask  # type: ignore[method-assign]
    try:
        yield
    finally:
        optuna.Study.ask = original  # type: ignore[method-assign]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def sampled_rss(log: list[tuple[float, float]], every: float = 1.0) -> Iterator[None]:
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every):
            log.append((time.perf_counter(), rss_mb()))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# --------------------------------------------------------------------------------------------
# The figures
# --------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def blocks(
    finishes: list[tuple[float, float]],
    args: argparse.Namespace,
    asks: list[tuple[float, float]],
    rss: list[tuple[float, float]],
) -> list[dict[str, Any]]:
    """Per block of ``args.block`` trials in finishing order (``finishes``: (perf_counter time,
    seconds of training or sleep) of each trial)."""
    rows = []
    finishes = sorted(finishes)
    for first in range(0, len(finishes) - args.block + 1, args.block):
        start = finishes[first - 1][0] if first else finishes[0][0] - finishes[0][1]
        end = finishes[first + args.block - 1][0]
        span = max(end - start, 1e-9)
        busy = sum(busy for _, busy in finishes[first : first + args.block])
        in_block = [d * 1000 for t, d in asks if start <= t < end] or [float("nan")]
        memory = [m for t, m in rss if t <= end] or [rss_mb()]
        rows.append(
            {
                "trials": first + args.block,
                "overhead_s": round((args.concurrency * span - busy) / args.block, 3),
                "utilisation": round(busy / (args.concurrency * span), 3),
                "ask_ms_p50": round(statistics.median(in_block), 1),
                "ask_ms_p95": round(percentile(in_block, 0.95), 1),
                "rss_mb": round(memory[-1]),
            }
        )
    return rows


def finish_times(
    engine: Any, search_id: int, clock_offset: float, sleep: float | None
) -> list[tuple[float, float]]:
    """(finishing time on this process's perf_counter clock, busy seconds) of each trial: the
    ``sleep`` of a sleep trial, or (None) the training time its record holds."""
    from sqlalchemy import select

    from search.records.db import Trial, session_scope

    with session_scope(engine) as s:
        rows = s.execute(
            select(Trial.finished_at, Trial.train_seconds).where(
                Trial.search_id == search_id, Trial.finished_at.is_not(None)
            )
        ).all()
    # The records' times are UTC (naive on SQLite).
    return [
        (at.replace(tzinfo=at.tzinfo or UTC).timestamp() - clock_offset, sleep or seconds or 0.0)
        for at, seconds in rows
        if at is not None
    ]


def database_bytes(engine: Any) -> int | None:
    from sqlalchemy import text

    if engine.url.get_backend_name() == "sqlite":
        path = engine.url.database
        return os.path.getsize(path) if path and os.path.exists(path) else None
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def api_timings(db_url: str, search_id: int, requests: int) -> dict[str, dict[str, float]]:
    """p50/p95 milliseconds of the leaderboard page, the search's web page and the CSV."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import ApiSettings

    client = TestClient(create_app(ApiSettings(database_url=db_url)), base_url="http://127.0.0.1")
    urls = {
        "leaderboard_page": f"/api/v1/searches/{search_id}/trials?limit=50",
        "search_page": f"/searches/{search_id}",
        "csv": f"/api/v1/searches/{search_id}/trials?format=csv",
    }
    out = {}
    with client:
        for name, url in urls.items():
            times = []
            for _ in range(2 + (requests if name != "csv" else max(1, requests // 10))):
                start = time.perf_counter()
                answer = client.get(url)
                times.append((time.perf_counter() - start) * 1000)
                assert answer.status_code == 200, (url, answer.status_code, answer.text[:200])
            times = times[2:]  # warm-up
            out[name] = {
                "p50": round(percentile(times, 0.5), 1),
                "p95": round(percentile(times, 0.95), 1),
            }
    return out


# --------------------------------------------------------------------------------------------
# The two sides
# --------------------------------------------------------------------------------------------


def run_convnas(args: argparse.Namespace, db_url: str, runs: Path) -> dict[str, Any]:
    import ray

    from search.records.db import get_engine
    from search.records.lifecycle import create_search
    from search.run.driver import run_search
    from space.spec import spec_from_data

    engine = get_engine(db_url)
    size_before = database_bytes(engine) or 0
    search_id = create_search(engine, spec_from_data(spec_data(args)))
    asks: list[tuple[float, float]] = []
    rss: list[tuple[float, float]] = []
    clock_offset = time.time() - time.perf_counter()
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # type: ignore[no-untyped-call]
    last = [0.0]

    def progress(p: Any) -> None:
        if time.perf_counter() - last[0] > 15:
            last[0] = time.perf_counter()
            say(f"convnas: {p.line()}  rss {rss_mb():.0f} MB")

    start = time.perf_counter()
    with timed_asks(asks), sampled_rss(rss):
        outcome = run_search(
            engine,
            search_id,
            trainable=None if args.real else sleep_trial,  # None: the product's train_arch
            runs_dir=runs,
            num_cpus=args.cpus,
            trial_config=None if args.real else {"trial_seconds": args.trial_seconds},
            reporter=progress,
        )
    wall = time.perf_counter() - start
    assert outcome.status == "succeeded", outcome
    finishes = finish_times(
        engine, search_id, clock_offset, None if args.real else args.trial_seconds
    )
    busy = sum(b for _, b in finishes)
    size = database_bytes(engine)
    out = {
        "wall_s": round(wall, 1),
        "ideal_s": round(busy / args.concurrency, 1),
        "busy_s_per_trial": round(busy / max(1, len(finishes)), 3),
        "finished": len(finishes),
        "blocks": blocks(finishes, args, asks, rss),
        "rss_mb_max": round(max([m for _, m in rss] or [rss_mb()])),
        "db_bytes_per_trial": round((size - size_before) / args.trials) if size else None,
        "api_ms": api_timings(db_url, search_id, args.requests),
    }
    engine.dispose()
    return out


class PlainSpace:
    """The plain run's define-by-run space, the same two parameters (module level: Tune pickles
    the searcher)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def __call__(self, trial: Any) -> dict[str, Any]:
        trial.suggest_int("channels", 2, 64)
        lr = trial.suggest_float("lr", 0.001, 0.5, log=True)
        return {"arch": {"training": {"epochs": self.epochs, "lr": lr}}}


def run_plain(args: argparse.Namespace, runs: Path) -> dict[str, Any]:
    """The anchor: the same trainable under plain Ray Tune + OptunaSearch, nothing recorded."""
    import optuna
    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from search.run.driver import REUSE_ACTORS, quiet_tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    finishes: list[tuple[float, float]] = []
    asks: list[tuple[float, float]] = []
    rss: list[tuple[float, float]] = []

    class Finished(tune.Callback):
        def on_trial_complete(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            finishes.append((time.perf_counter(), args.trial_seconds))

    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    start = time.perf_counter()
    tuner = tune.Tuner(
        tune.with_resources(sleep_trial, {"cpu": 1}),
        param_space={"trial_seconds": args.trial_seconds},
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearch(
                space=PlainSpace(args.epochs), metric="val_acc", mode="max", seed=0
            ),
            num_samples=args.trials,
            max_concurrent_trials=args.concurrency,
            reuse_actors=REUSE_ACTORS,
        ),
        run_config=tune.RunConfig(
            name=f"plain-{time.time_ns()}",
            storage_path=str(runs),
            verbose=0,
            callbacks=[Finished()],
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        ),
    )
    try:
        with quiet_tune(), timed_asks(asks), sampled_rss(rss):
            results = tuner.fit()
    finally:
        ray.shutdown()
    assert len(results) == args.trials and not results.errors, results.errors
    return {
        "wall_s": round(time.perf_counter() - start, 1),
        "finished": len(finishes),
        "blocks": blocks(finishes, args, asks, rss),
        "rss_mb_max": round(max([m for _, m in rss] or [rss_mb()])),
    }


def counts(engine: Any, search_id: int) -> tuple[int, datetime | None]:
    """Finished trials and the latest start of a trial."""
    from sqlalchemy import func, select

    from search.records.db import Trial, session_scope

    with session_scope(engine) as s:
        finished = s.scalar(
            select(func.count()).where(Trial.search_id == search_id, Trial.finished_at.is_not(None))
        )
        started = s.scalar(select(func.max(Trial.started_at)).where(Trial.search_id == search_id))
    return int(finished or 0), started


def run_resume(args: argparse.Namespace, db_url: str, runs: Path) -> dict[str, Any]:
    """A search driven as a runner drives it (``python -m search.run.runner``, its own local
    Ray), killed with SIGKILL once ``args.kill_at`` of its trials have finished, then driven
    again by a new driver process, as a restarted runner would: seconds from the kill until a
    trial starts again, and whether the search still ends with every trial."""
    import signal
    import subprocess

    from search.records.db import get_engine
    from search.records.lifecycle import create_search
    from space.spec import spec_from_data

    engine = get_engine(db_url)
    data = spec_data(args)
    data["search"]["trials"] = args.resume_trials
    search_id = create_search(engine, spec_from_data(data))

    def driver() -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "search.run.runner", "--search", str(search_id)]
        command += ["--runner", "bench:1", "--parent", str(os.getpid())]
        command += ["--runs-dir", str(runs), "--num-cpus", str(args.cpus)]
        command += ["--trainable", "bench.scale:sleep_trial"]
        command += ["--trial-config", json.dumps({"trial_seconds": args.trial_seconds})]
        env = {**os.environ, "CONVNAS_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}
        quiet = subprocess.DEVNULL
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=quiet, stderr=quiet)

    first = driver()
    target = int(args.kill_at * args.resume_trials)
    while counts(engine, search_id)[0] < target:
        if first.poll() is not None:
            raise RuntimeError(f"the driver exited {first.returncode} before the kill")
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    killed_at = datetime.now(UTC)
    first.wait()
    done_at_kill = counts(engine, search_id)[0]
    say(f"resume: killed the driver at {done_at_kill}/{args.resume_trials} trials")
    second = driver()
    restart = None
    while restart is None:
        _, started = counts(engine, search_id)
        if started is not None and started.replace(tzinfo=started.tzinfo or UTC) > killed_at:
            restart = (started.replace(tzinfo=started.tzinfo or UTC) - killed_at).total_seconds()
        elif second.poll() is not None:
            raise RuntimeError(f"the second driver exited {second.returncode} before a trial")
        else:
            time.sleep(0.2)
    say(f"resume: a trial started {restart:.1f} s after the kill")
    second.wait(timeout=3600)
    from search.records.db import session_scope
    from search.records.repository import trial_counts

    with session_scope(engine) as s:
        statuses = trial_counts(s, search_id)
    engine.dispose()
    return {
        "trials": args.resume_trials,
        "killed_at_finished": done_at_kill,
        "seconds_to_first_new_trial": round(restart, 1),
        "second_driver_exit": second.returncode,
        # The trials the kill cut short are recorded interrupted and proposed again: they are
        # not counted towards the search's trials.
        "statuses": statuses,
    }


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64, help="trials in flight")
    parser.add_argument("--cpus", type=int, default=64, help="logical CPUs for the local Ray")
    parser.add_argument("--trial-seconds", type=float, default=1.0, help="sleep per trial")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--block", type=int, default=100, help="trials per reported block")
    parser.add_argument("--requests", type=int, default=20, help="API requests per URL")
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite)")
    parser.add_argument("--plain", action="store_true", help="also run plain Tune + OptunaSearch")
    parser.add_argument(
        "--real",
        action="store_true",
        help="train for real (300 digits at 8 px) instead of sleeping; overhead is measured "
        "above each trial's recorded training time",
    )
    parser.add_argument(
        "--resume-trials",
        type=int,
        default=0,
        help="also a search of this many trials whose "
        "driver is killed (SIGKILL) at --kill-at and started again (0: none)",
    )
    parser.add_argument("--kill-at", type=float, default=0.8, help="fraction finished at the kill")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--smoke", action="store_true", help=f"smallest run: defaults {SMOKE}")
    if parser.parse_known_args(argv)[0].smoke:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    for name in ("trials", "concurrency", "cpus", "epochs", "block", "requests"):
        if getattr(args, name) < 1:
            parser.error(
                f"--{name.replace('_', '-')}: at least 1 expected, got {getattr(args, name)}"
            )
    if args.real and (args.plain or args.resume_trials):
        parser.error("--real: the plain anchor and the resume phase run sleep trials only")
    if args.concurrency > args.cpus:
        parser.error(f"--concurrency {args.concurrency} needs --cpus of at least that many")
    if not args.trial_seconds >= 0 or args.block > args.trials:
        parser.error("--trial-seconds must be >= 0 and --block at most --trials")
    return args


def summary(side: dict[str, Any], first: int) -> dict[str, Any]:
    """Median overhead of the first and last ``first`` trials (in whole blocks)."""
    rows = side["blocks"]
    n = max(1, min(len(rows) // 2, first))
    head = statistics.median(r["overhead_s"] for r in rows[:n])
    tail = statistics.median(r["overhead_s"] for r in rows[-n:])
    return {
        "overhead_first_s": round(head, 3),
        "overhead_last_s": round(tail, 3),
        "utilisation_min": min(r["utilisation"] for r in rows),
        "ask_ms_p95_max": max(r["ask_ms_p95"] for r in rows),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    per_end = max(1, 1000 // args.block)
    doc: dict[str, Any] = {
        "setup": {k: v for k, v in vars(args).items() if k not in ("json", "smoke")}
    }
    # Ray's and Tune's own lines (a raylet's warnings, Tune's tables) go to stderr with ours:
    # stdout holds the figures alone.
    with tempfile.TemporaryDirectory(prefix="convnas-scale-") as tmp, redirect_stdout(sys.stderr):
        db_url = args.db or f"sqlite:///{Path(tmp) / 'scale.db'}"
        doc["setup"]["db"] = db_url.split("://")[0]
        say(f"convnas: {args.trials} trials, {args.concurrency} in flight, {args.trial_seconds} s")
        doc["convnas"] = run_convnas(args, db_url, Path(tmp) / "runs")
        doc["convnas"]["summary"] = summary(doc["convnas"], per_end)
        if args.plain:
            say("plain Ray Tune + OptunaSearch")
            doc["plain"] = run_plain(args, Path(tmp) / "plain-runs")
            doc["plain"]["summary"] = summary(doc["plain"], per_end)
        if args.resume_trials:
            say(f"resume: {args.resume_trials} trials, the driver killed at {args.kill_at:.0%}")
            doc["resume"] = run_resume(args, db_url, Path(tmp) / "resume-runs")
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print_table(doc)
    return 0


def print_table(doc: dict[str, Any]) -> None:
    for side in ("convnas", "plain"):
        if side not in doc:
            continue
        figures = doc[side]
        print(f"{side}: wall {figures['wall_s']} s, finished {figures['finished']}", end="")
        print(f", max RSS {figures['rss_mb_max']} MB")
        heads = ("trials", "overhead s", "util", "ask p50", "ask p95", "RSS MB")
        print("  " + " ".join(f"{h:>10}" for h in heads))
        for row in figures["blocks"]:
            print(
                f"  {row['trials']:>10} {row['overhead_s']:>10.3f} {row['utilisation']:>10.2f} "
                f"{row['ask_ms_p50']:>10.1f} {row['ask_ms_p95']:>10.1f} {row['rss_mb']:>10}"
            )
        print(f"  summary: {figures['summary']}")
        for key in ("db_bytes_per_trial", "api_ms"):
            if key in figures:
                print(f"  {key}: {figures[key]}")
    if "resume" in doc:
        print(f"resume after SIGKILL of the driver: {doc['resume']}")


if __name__ == "__main__":
    sys.exit(main())

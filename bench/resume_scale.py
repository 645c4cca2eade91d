"""Resuming a large search after its driver was killed (issue 21): the time until a new trial runs.

``bench/scale.py --resume-trials N`` kills a real driver at 80% of N trials and starts another;
at 10,000 trials its first part alone takes most of an hour here. This bench builds the state
such a kill leaves instead, then measures the same restart:

  * the search of ``bench/scale.py`` (a continuous learning rate and a channel count, sleep
    trials), ``--trials`` of them (10,000), recorded in the database as a killed driver leaves
    it: ``--kill-at`` (80%) finished, the Optuna study holding every one of them (drawn by the
    product's own suggest calls, told their values) and ``--concurrency`` (64) trials still
    "running" in both the records and the study, as the kill left them;
  * then a new driver process, started as a runner starts one (``python -m search.run.runner``,
    its own local Ray): the seconds from its start until a trial starts running (what the
    restart costs: reconciling the cut-short trials, loading the study, starting Ray and Tune,
    the first proposals), and the first 16 new trials' proposals;
  * the driver is then stopped (SIGTERM): the rest of the search is ``bench/scale.py``'s subject.

Target (issue 21): a new trial runs within 60 s of the restart at 10,000 trials.

    RAY_AUTH_MODE=disabled .venv/bin/python bench/resume_scale.py            # SQLite, 10,000
    RAY_AUTH_MODE=disabled .venv/bin/python bench/resume_scale.py --db postgresql+psycopg://...
    RAY_AUTH_MODE=disabled .venv/bin/python bench/resume_scale.py --smoke --json

``--json`` prints one JSON document on stdout (progress goes to stderr). ``--smoke``: 200
trials, 8 running: it checks that the benchmark runs; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NEW_TRIALS = 16


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def spec(trials: int, concurrency: int) -> Any:
    from scale import spec_data  # bench/scale.py, beside this script

    from space.spec import spec_from_data

    args = argparse.Namespace(real=False, epochs=1, trials=trials, concurrency=concurrency)
    return spec_from_data(spec_data(args))


def seed_study(search_spec: Any, study_name: str, url: str, done: int, running: int) -> list[Any]:
    """The study a killed driver leaves: ``done`` trials told, ``running`` asked and not told;
    drawn in memory by the product's own suggest calls, then written in one go. Returns the
    stored trials (with their storage ids) in number order."""
    import optuna

    from search.run.optuna_bridge import OptunaSampler
    from search.run.study import open_study
    from space.sampling import freeze

    stored = open_study(study_name, search_spec, url, search_spec.search.trials)
    memory = optuna.create_study(
        directions=stored.directions, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    for number in range(done + running):
        trial = memory.ask()
        arch = freeze(search_spec, OptunaSampler(trial))
        if number < done:
            lr = arch.training.lr if arch.training else 0.0
            memory.tell(trial, 0.5 + 0.4 * float(lr))
    started = time.perf_counter()
    stored.add_trials(memory.get_trials(deepcopy=False))
    say(f"study: {done + running} trials written in {time.perf_counter() - started:.0f}s")
    return stored.get_trials(deepcopy=False)


def seed_records(engine: Any, search_id: int, search_spec: Any, trials: list[Any]) -> None:
    """The records of those trials, as the ledger writes them (its row constructor)."""
    from search.records.db import session_scope, utcnow
    from search.records.optuna_private import storage_trial_id
    from search.records.trial_rows import trial_row
    from space.cost import cost
    from space.sampling import ReplaySampler, freeze

    begin = utcnow() - timedelta(hours=1)
    rows = []
    for frozen in trials:
        arch = freeze(search_spec, ReplaySampler(frozen.params))
        running = frozen.values is None
        row = trial_row(
            search_id, frozen.number, frozen.params, arch, cost(arch),
            "running" if running else "completed", optuna_trial_id=storage_trial_id(frozen),
        )  # fmt: skip
        row.started_at = begin + timedelta(seconds=0.3 * frozen.number)
        if not running:
            row.values = list(frozen.values)
            row.best_val_acc = row.last_val_acc = frozen.values[0]
            row.epochs, row.train_seconds = 1, 1.0
            row.finished_at = row.started_at + timedelta(seconds=1)
        rows.append(row)
    with session_scope(engine) as s:
        for at in range(0, len(rows), 2000):
            s.add_all(rows[at : at + 2000])
            s.flush()


def restart(url: str, search_id: int, runs: Path, cpus: int) -> tuple[float, float]:
    """Seconds from a new driver's start until a trial starts, then until NEW_TRIALS have."""
    from sqlalchemy import func, select

    from search.records.db import Trial, get_engine

    engine = get_engine(url)
    command = [sys.executable, "-m", "search.run.runner", "--search", str(search_id)]
    command += ["--runner", "bench:1", "--parent", str(os.getpid())]
    command += ["--runs-dir", str(runs), "--num-cpus", str(cpus)]
    command += ["--trainable", "bench.scale:sleep_trial"]
    command += ["--trial-config", json.dumps({"trial_seconds": 1.0})]
    env = {**os.environ, "CONVNAS_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    began = datetime.now(UTC)
    driver = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    first = None
    try:
        while True:
            time.sleep(0.2)
            with engine.connect() as conn:
                new = select(func.count()).where(
                    Trial.search_id == search_id, Trial.started_at > began.replace(tzinfo=None)
                )
                started = int(conn.execute(new).scalar_one())
            if started and first is None:
                first = (datetime.now(UTC) - began).total_seconds()
                say(f"restart: a new trial started {first:.1f}s after the new driver")
            if started >= NEW_TRIALS:
                return first or 0.0, (datetime.now(UTC) - began).total_seconds()
            if driver.poll() is not None:
                raise RuntimeError(f"the new driver exited {driver.returncode} first")
    finally:
        # SIGTERM: the runner stops its Ray and Tune cleanly (a SIGKILL would orphan Ray's agents).
        driver.send_signal(signal.SIGTERM)
        try:
            driver.wait(timeout=60)
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait()
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int)
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--kill-at", type=float, default=0.8)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--smoke", action="store_true", help="a quick run: figures mean nothing")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args()
    trials = args.trials or (200 if args.smoke else 10_000)
    concurrency = args.concurrency or (8 if args.smoke else 64)
    done = int(args.kill_at * trials)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from search.records.db import get_engine, session_scope
    from search.records.lifecycle import create_search
    from search.records.repository import resolve_search

    with tempfile.TemporaryDirectory(prefix="convnas-resume-") as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'resume.db'}"
        engine = get_engine(url)
        search_spec = spec(trials, concurrency)
        search_id = create_search(engine, search_spec)
        with session_scope(engine) as s:
            study_name = resolve_search(s, search_id).study_name
        started = time.perf_counter()
        seeded = seed_study(search_spec, study_name, url, done, concurrency)
        seed_records(engine, search_id, search_spec, seeded)
        took = time.perf_counter() - started
        say(f"seeded {done} finished and {concurrency} running trials in {took:.0f}s")
        first, sixteen = restart(url, search_id, Path(tmp) / "runs", concurrency)
        engine.dispose()
    doc = {
        "trials": trials, "finished_at_kill": done, "running_at_kill": concurrency,
        "database": url.split(":")[0], "seconds_to_first_new_trial": round(first, 1),
        f"seconds_to_{NEW_TRIALS}_new_trials": round(sixteen, 1),
    }  # fmt: skip
    say(json.dumps(doc))
    if args.json:
        print(json.dumps(doc))


if __name__ == "__main__":
    main()

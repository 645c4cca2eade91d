"""API latency at scale: leaderboard pages and the full CSV over HTTP, 100k trials recorded.

What is measured: ``--trials`` (100k) trials across ``--searches`` (10) searches, recorded the
way the driver records them, then the real app (``api.app.create_app``, served by uvicorn in a
subprocess on a free port) asked over HTTP with one keep-alive client, one request at a time:

  * leaderboard pages of 50 (``GET /api/v1/searches/{id}/trials``): the default sort (the first
    objective, val_acc), another metric (``+params``), a filter (``cell_kind=lstm``) and a deep
    page (``offset`` = the last page of the default sort); p50 and p95 of ``--requests`` each
    after a few warm-up requests;
  * the full CSV of the big search (``format=csv``), streamed to the last byte, ``--csv-runs``
    times; its rows are counted against the page's ``total``.

The searches are the ``examples/cell_families.yaml`` space (8 cell families, so a cell-kind
filter keeps about 1/8). One search, the one measured, holds most trials (all but 1% per other
search: 91k of 100k), so that its CSV is the "full CSV of 100k" the target speaks of and a deep
page is ~77k rows deep. Seeding goes through the ledger's own row constructor
(``search.records.trial_rows.trial_row``: the arch document, hashes, analytic cost and cell
kinds of a proposal) for a pool of sampled archs, with the outcome fields ``Ledger.finish``
sets (status, val_acc, epochs, seconds, values...; accuracies on a 1/1000 grid, so ties are
common), inserted in bulk (executemany, 5000 rows a transaction: a transaction a row, as the
driver commits them over hours, would take minutes here and is not what is measured); Pareto
flags by ``search.records.pareto.update_pareto``; then ANALYZE. Per-epoch metrics are not
seeded: neither the leaderboard nor the CSV reads them.

Databases: ``--db URL`` (repeatable); by default a temporary SQLite file, and PostgreSQL too when
``CONVNAS_TEST_POSTGRES_URL`` is set. On PostgreSQL everything happens in a fresh schema, dropped
afterwards (``--keep`` keeps it, and the SQLite file, for EXPLAIN); a SQLite ``--db`` that
already holds the seeded searches is measured as it is (reruns skip the seeding).

    .venv/bin/python bench/api_latency.py                      # 100k trials, both backends
    .venv/bin/python bench/api_latency.py --db sqlite:///tmp/bench.db --keep --json
    .venv/bin/python bench/api_latency.py --smoke --json       # 2k trials, a few requests

``--json`` prints one JSON document on stdout (progress goes to stderr). ``--smoke`` only
changes the defaults (2000 trials, 10 requests, 1 CSV run): it checks that the benchmark runs;
its figures mean nothing. ``tests/test_bench_smoke.py`` runs it.

Targets (issue 10): a page's p95 under 50 ms at 100k trials, the full CSV of 100k under 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "cell_families.yaml"
POSTGRES_ENV = "CONVNAS_TEST_POSTGRES_URL"
TARGET_PAGE_P95_MS = 50.0
TARGET_CSV_S = 3.0
PAGE = 50
BATCH = 5000
POOL = 400  # distinct archs sampled; trials reuse them (their outcomes differ)
WARMUP = 3
SMOKE = {"trials": 2000, "requests": 10, "csv_runs": 1}
CASES: dict[str, dict[str, Any]] = {
    "page: default sort": {},
    "page: sort +params": {"sort": "+params"},
    "page: cell_kind=lstm": {"cell_kind": "lstm"},
    "page: deep offset": {"offset": -1},  # the last page of the default sort, set per database
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Databases
# --------------------------------------------------------------------------------------------


@contextmanager
def scratch_database(url: str, keep: bool) -> Iterator[str]:
    """``url`` itself for SQLite; for PostgreSQL a fresh schema of it (dropped unless keep)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from search.settings import normalize_url

    url = normalize_url(url)
    if not url.startswith("postgresql"):
        yield url
        return
    schema = f"convnas_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield scoped.render_as_string(hide_password=False)
    finally:
        if keep:
            log(f"kept schema {schema}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def sizes(trials: int, searches: int) -> list[int]:
    """Trials per search: 1% of the total for each other search, the rest for the first."""
    small = trials // 100 if searches > 1 else 0
    return [trials - small * (searches - 1)] + [small] * (searches - 1)


def seed(url: str, trials: int, searches: int) -> int:
    """Record the searches and their trials (unless already there); the big search's id."""
    from sqlalchemy import func, select

    from search.records.db import Search, Trial, create_db_engine, session_scope

    engine = create_db_engine(url)
    try:
        with session_scope(engine) as s:
            found = s.scalar(select(Search.id).where(Search.name == "bench-0"))
            count = found and s.scalar(
                select(func.count()).select_from(Trial).where(Trial.search_id == found)
            )
        if found and count == sizes(trials, searches)[0]:
            log(f"{url.split('://')[0]}: reusing the {count} trials of search {found}")
            analyze(engine)  # a migration may have added indexes since
            return int(found)
        started = time.perf_counter()
        ids = [
            seed_search(engine, f"bench-{i}", n, i) for i, n in enumerate(sizes(trials, searches))
        ]
        analyze(engine)
        log(f"seeded {trials} trials in {time.perf_counter() - started:.1f} s")
        return ids[0]
    finally:
        engine.dispose()


def seed_search(engine: Any, name: str, count: int, seed_value: int) -> int:
    from sqlalchemy import insert

    from search.records.db import Trial, session_scope, utcnow
    from search.records.lifecycle import create_search
    from search.records.pareto import update_pareto
    from search.records.trial_rows import trial_row
    from space.cost import cost
    from space.sampling import sample
    from space.spec import load_spec

    spec = load_spec(SPEC).model_copy(update={"name": name})
    search_id = create_search(engine, spec)
    rng = random.Random(seed_value)
    templates = []
    for i in range(POOL):
        arch = sample(spec, seed=seed_value * POOL + i)
        row = trial_row(search_id, 0, {"cells.cell.kind": "x"}, arch, cost(arch), "completed")
        templates.append({c.key: getattr(row, c.key) for c in Trial.__table__.columns})
    now = utcnow()
    for start in range(0, count, BATCH):
        rows = [
            outcome(templates, number, rng, now)
            for number in range(start, min(count, start + BATCH))
        ]
        with session_scope(engine) as s:
            s.execute(insert(Trial), rows)
    with session_scope(engine) as s:
        update_pareto(s, search_id, list(spec.objectives))
    return search_id


def outcome(
    templates: list[dict[str, Any]], number: int, rng: random.Random, now: Any
) -> dict[str, Any]:
    """One trial's row: a pool arch as ``trial_row`` makes it, closed as ``Ledger.finish``
    would close it (most completed, some pruned, failed or rejected)."""
    row = {k: v for k, v in rng.choice(templates).items() if k != "id"}
    status = rng.choices(["completed", "pruned", "failed", "rejected"], [85, 8, 5, 2])[0]
    acc = round(rng.uniform(0.4, 0.95), 3) if status in ("completed", "pruned") else None
    epochs = {"completed": 10, "pruned": rng.randint(1, 9)}.get(status, 0)
    seconds = round(rng.uniform(20, 600), 2) if epochs else None
    started = now - timedelta(seconds=(seconds or 1) + number)
    row.update(
        number=number,
        optuna_trial_id=number,
        status=status,
        params={"cells.cell.kind": "x", "training.lr": round(rng.uniform(1e-3, 1e-1), 5)},
        best_val_acc=acc,
        last_val_acc=None if acc is None else round(acc - rng.uniform(0, 0.02), 3),
        values=[acc] if acc is not None else None,
        epochs=epochs,
        train_seconds=seconds,
        node=f"10.0.0.{number % 16}",
        error="RuntimeError: CUDA out of memory" if status == "failed" else None,
        started_at=started,
        finished_at=started + timedelta(seconds=seconds or 1),
        created_at=started,
    )
    if status == "rejected":
        row["error"] = "over budget: params 2.1M > max_params 2M"
    return row


def analyze(engine: Any) -> None:
    from sqlalchemy import text

    if engine.dialect.name == "postgresql":  # VACUUM: index-only scans need the visibility map
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


# --------------------------------------------------------------------------------------------
# The server and the client
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(app_ref: str, port: int) -> None:
    """The server process: the app for CONVNAS_DATABASE_URL, served by uvicorn."""
    import importlib

    import uvicorn

    module, _, factory = app_ref.partition(":")
    app = getattr(importlib.import_module(module), factory or "create_app")()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextmanager
def server(url: str, app_ref: str) -> Iterator[str]:
    """A served app on ``url``'s database; yields its base URL once it answers."""
    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVNAS_API_")}
    env["CONVNAS_DATABASE_URL"] = url
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--app", app_ref], cwd=ROOT, env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}")
            with suppress(httpx.TransportError):
                if httpx.get(f"{base}/api/v1/health", timeout=5).status_code < 500:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def time_pages(client: Any, path: str, params: dict[str, Any], requests: int) -> dict[str, Any]:
    seconds = []
    for i in range(WARMUP + requests):
        started = time.perf_counter()
        response = client.get(path, params=params)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        if i >= WARMUP:
            seconds.append(elapsed)
    items = len(response.json()["items"])
    return {
        "p50_ms": round(statistics.median(seconds) * 1000, 1),
        "p95_ms": round(percentile(seconds, 0.95) * 1000, 1),
        "requests": requests,
        "rows": items,
    }


def time_csv(client: Any, path: str, runs: int, total: int) -> dict[str, Any]:
    seconds, size, lines = [], 0, 0
    for _ in range(runs):
        started = time.perf_counter()
        size = lines = 0
        with client.stream("GET", path, params={"format": "csv", "status": "all"}) as response:
            response.raise_for_status()
            for piece in response.iter_bytes():
                size += len(piece)
                lines += piece.count(b"\n")
        seconds.append(time.perf_counter() - started)
    if lines - 1 != total:
        raise RuntimeError(f"the CSV has {lines - 1} rows, the search {total} trials")
    return {
        "p50_s": round(statistics.median(seconds), 3),
        "max_s": round(max(seconds), 3),
        "runs": runs,
        "rows": lines - 1,
        "mib": round(size / 2**20, 1),
    }


def measure(base: str, search_id: int, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    path = f"/api/v1/searches/{search_id}/trials"
    results: dict[str, Any] = {}
    with httpx.Client(base_url=base, timeout=120) as client:
        total = client.get(path, params={"limit": 1}).json()["total"]
        every = client.get(path, params={"limit": 1, "status": "all"}).json()["total"]
        for case, extra in CASES.items():
            params = {"limit": PAGE, **extra}
            if params.get("offset") == -1:
                params["offset"] = max(0, total - PAGE)
            results[case] = time_pages(client, path, params, args.requests)
            results[case]["offset"] = params.get("offset", 0)
            log(f"  {case}: {results[case]}")
        results["csv: every trial"] = time_csv(client, path, args.csv_runs, every)
        log(f"  csv: {results['csv: every trial']}")
    return results


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", action="append", help="database URL (repeatable)")
    parser.add_argument("--trials", type=int, default=None, help="trials in all (100000)")
    parser.add_argument("--searches", type=int, default=10)
    parser.add_argument("--requests", type=int, default=None, help="timed requests a page (100)")
    parser.add_argument("--csv-runs", type=int, default=None, help="full CSV downloads (3)")
    parser.add_argument("--app", default="api.app:create_app", help="app factory MODULE:NAME")
    parser.add_argument("--keep", action="store_true", help="keep the databases seeded")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--smoke", action="store_true", help=f"smallest run: defaults {SMOKE}")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = SMOKE if args.smoke else {"trials": 100_000, "requests": 100, "csv_runs": 3}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.trials < args.searches or args.requests < 1 or args.csv_runs < 1:
        parser.error("need --trials >= --searches, --requests >= 1 and --csv-runs >= 1")
    return args


def databases(args: argparse.Namespace, folder: Path) -> list[str]:
    if args.db:
        return list(args.db)
    found = [f"sqlite:///{folder / 'bench.db'}"]
    if os.environ.get(POSTGRES_ENV):
        found.append(os.environ[POSTGRES_ENV])
    return found


def verdict(results: dict[str, Any]) -> dict[str, bool]:
    pages = [r["p95_ms"] for case, r in results.items() if case.startswith("page")]
    return {
        f"page_p95_under_{TARGET_PAGE_P95_MS:g}_ms": max(pages) < TARGET_PAGE_P95_MS,
        f"csv_under_{TARGET_CSV_S:g}_s": results["csv: every trial"]["p50_s"] < TARGET_CSV_S,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'database':<11} {'case':<22} {'p50':>10} {'p95/max':>10} {'rows':>7}  note"]
    for row in rows:
        for case, r in row["results"].items():
            if "p50_ms" in r:
                figures = f"{r['p50_ms']:>7.1f} ms {r['p95_ms']:>7.1f} ms"
                note = f"offset {r['offset']}" if r["offset"] else ""
            else:
                figures = f"{r['p50_s']:>8.2f} s {r['max_s']:>8.2f} s"
                note = f"{r['mib']} MiB"
            lines.append(f"{row['backend']:<11} {case:<22} {figures} {r['rows']:>7}  {note}")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    if args.serve:
        serve(args.app, args.serve)
        return
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="convnas-bench-") as tmp:
        folder = Path(tempfile.mkdtemp(prefix="convnas-bench-")) if args.keep else Path(tmp)
        for url in databases(args, folder):
            with scratch_database(url, args.keep) as scoped:
                backend = scoped.split(":", 1)[0].split("+")[0]
                log(f"{backend}: seeding {args.trials} trials in {args.searches} searches")
                started = time.perf_counter()
                search_id = seed(scoped, args.trials, args.searches)
                seeded = round(time.perf_counter() - started, 1)
                load = os.getloadavg()[0]
                with server(scoped, args.app) as base:
                    results = measure(base, search_id, args)
                rows.append(
                    {
                        "backend": backend,
                        "seed_seconds": seeded,
                        # 1-minute load average before and after: other work on the machine
                        # moves these figures more than anything measured here.
                        "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
                        "results": results,
                        "targets_met": verdict(results),
                    }
                )
        if args.keep:
            log(f"kept {folder}")
    doc = {
        "settings": {
            "trials": args.trials,
            "searches": args.searches,
            "measured_search_trials": sizes(args.trials, args.searches)[0],
            "page": PAGE,
            "requests": args.requests,
            "csv_runs": args.csv_runs,
            "smoke": args.smoke,
        },
        "rows": rows,
    }
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(table(rows))
        for row in rows:
            print(
                f"{row['backend']}: seeded in {row['seed_seconds']} s; load average "
                f"{row['load_average'][0]} -> {row['load_average'][1]}; {row['targets_met']}"
            )


if __name__ == "__main__":
    main()

"""Every script in bench/ runs in its smoke mode and prints sane figures as one JSON document.

Nothing else runs the benchmarks, so without these they rot unnoticed (orchestration_overhead
once failed on a spec the validator had since learnt to refuse). Each runs as a user would:
``python bench/X.py --smoke --json`` from the repository root, its stdout parsed as JSON (any
stray print there fails the parse). Smoke figures mean nothing: only their sanity is checked.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ENV = "CONVNAS_TEST_POSTGRES_URL"
PRESETS = ["rgc_shallow", "rgc_intermediate", "lstm_shallow", "timedecay_intermediate"]


def run_bench(script: str, *args: str, timeout: float = 300) -> tuple[Any, str]:
    """(the parsed stdout, stderr) of one benchmark's smoke run, which must succeed."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.run(
        [sys.executable, f"bench/{script}", "--smoke", "--json", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout), proc.stderr


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_model_throughput_smoke_times_every_preset_and_its_feedforward_pair() -> None:
    doc, _ = run_bench("model_throughput.py")
    assert doc["setup"]["batch"] == 2 and doc["setup"]["threads"] == 1
    rows = {row["model"]: row for row in doc["rows"]}
    assert list(rows) == [m for p in PRESETS for m in (p, f"{p} feedforward")]
    for name, row in rows.items():
        assert row["size"] == 32, name
        for key in ("img/s", "best img/s", "GMAC/img", "GMAC/s", "steps timed"):
            assert positive(row[key]), (name, key, row[key])
        assert row["best img/s"] >= row["img/s"], name
        assert 0 < row["eff"] <= 1, name
        if name.endswith("feedforward"):
            assert row["T"] == 1 and "ratio" not in row, name
        else:
            assert row["T"] > 1 and positive(row["ratio"]) and positive(row["best ratio"]), name


@pytest.mark.slow
def test_model_throughput_profile_tables_go_to_stderr() -> None:
    doc, err = run_bench("model_throughput.py", "--presets", "rgc_shallow", "--profile")
    assert [row["model"] for row in doc["rows"]] == ["rgc_shallow", "rgc_shallow feedforward"]
    assert "Self CPU" in err and "aten::" in err


def test_train_throughput_smoke_trains_every_model_on_both_datasets() -> None:
    doc, err = run_bench("train_throughput.py")
    assert doc["settings"]["smoke"] is True and doc["settings"]["size"] == 16
    assert [row["model"] for row in doc["rows"]] == ["rgc", "lstm", "ff"]
    for row in doc["rows"]:
        assert row["T"] == 4, row
        assert positive(row["digits_img_s"]) and positive(row["pathfinder_img_s"]), row
        path = row["pathfinder"]
        assert path["status"] == "completed", row
        assert 0 <= path["val_acc"] <= 1 and 0 <= path["best_val_acc"] <= 1, row
        assert len(path["val_acc_per_step"]) == row["T"], row
        assert positive(path["params"]) and path["seconds"] >= 0, row
    assert "done ff" in err  # progress on stderr, not in the document


@pytest.mark.slow
@pytest.mark.ray
def test_orchestration_overhead_smoke_runs_both_sides_and_fits_the_line() -> None:
    doc, _ = run_bench("orchestration_overhead.py")
    assert doc["trials"] == [1, 2] and doc["concurrency"] == 1 and doc["epochs"] == 1
    assert doc["ideal_seconds_per_trial"] == pytest.approx(0.05)
    for side in ("plain", "convnas"):
        walls = doc[f"{side}_wall_seconds"]
        assert list(walls) == ["1", "2"] and all(positive(w) for w in walls.values()), walls
        assert positive(doc[f"{side}_driver_cpu_ms_per_trial"]), side
        # two sizes: a fitted one-off cost and per-trial overhead (either may be negative
        # in so short a run; they must be numbers)
        for key in (f"{side}_one_off_seconds", f"{side}_overhead_per_trial_s"):
            assert math.isfinite(doc[key]), key
    assert doc["per_trial_includes_one_off"] is False
    assert math.isfinite(doc["convnas_extra_per_trial_s"])
    assert doc["ratio"] is None or positive(doc["ratio"])


def test_scale_smoke_runs_a_search_and_reports_each_block() -> None:
    doc, _ = run_bench("scale.py")
    setup, side = doc["setup"], doc["convnas"]
    assert (setup["trials"], setup["concurrency"], setup["block"]) == (24, 4, 8)
    assert side["finished"] == 24 and positive(side["wall_s"])
    assert [row["trials"] for row in side["blocks"]] == [8, 16, 24]
    for row in side["blocks"]:
        assert 0 < row["utilisation"] <= 1.5 and positive(row["rss_mb"]), row
        assert math.isfinite(row["overhead_s"]), row
    assert positive(side["db_bytes_per_trial"])
    for name in ("leaderboard_page", "search_page", "csv"):
        assert positive(side["api_ms"][name]["p95"]), name
    assert set(side["summary"]) >= {"overhead_first_s", "overhead_last_s", "utilisation_min"}
    resume = doc["resume"]  # the driver killed at 80% and started again
    assert resume["killed_at_finished"] >= 9 and resume["second_driver_exit"] == 0, resume
    assert positive(resume["seconds_to_first_new_trial"])
    assert resume["statuses"].get("completed", 0) >= 12, resume


def test_api_latency_smoke_times_every_case_over_http_on_each_backend() -> None:
    doc, err = run_bench("api_latency.py")
    settings = doc["settings"]
    assert settings["smoke"] is True and settings["trials"] == 2000 and settings["searches"] == 10
    big = settings["measured_search_trials"]
    assert big == 2000 - 9 * 20
    backends = [row["backend"] for row in doc["rows"]]
    expected = ["sqlite", "postgresql"] if os.environ.get(POSTGRES_ENV) else ["sqlite"]
    assert backends == expected
    for row in doc["rows"]:
        results = row["results"]
        pages = {case: r for case, r in results.items() if case.startswith("page")}
        assert len(pages) == 4, results
        for case, r in pages.items():
            assert r["rows"] == 50 and r["requests"] == 10, (case, r)
            assert positive(r["p50_ms"]) and r["p95_ms"] >= r["p50_ms"], (case, r)
        assert pages["page: deep offset"]["offset"] > big // 2
        csv = results["csv: every trial"]
        assert csv["rows"] == big and positive(csv["p50_s"]) and csv["mib"] > 0, csv
        assert set(row["targets_met"]) == {"page_p95_under_50_ms", "csv_under_3_s"}
    assert "seeding 2000 trials" in err  # progress on stderr, not in the document


def test_efficiency_table_smoke_trains_every_config_with_each_seed(tmp_path: Path) -> None:
    out = tmp_path / "table.json"
    doc, err = run_bench("efficiency_table.py", "--out", str(out))
    assert doc["configs"] == 8 and doc["seeds"] == ["0", "1"] and doc["trainings"] == 16
    table = json.loads(out.read_text())
    assert math.isclose(sum(e["p_random"] for e in table["configs"].values()), 1.0)
    for entry in table["configs"].values():
        for run in entry["runs"].values():
            assert len(run["val_acc"]) == 2 and all(0 <= v <= 1 for v in run["val_acc"])
            assert run["cpu_s"] > 0
    assert "16 trainings to do" in err  # progress on stderr, not in the document
    # resumable: a rerun over the finished table trains nothing
    again, err = run_bench("efficiency_table.py", "--out", str(out))
    assert "0 trainings to do" in err and again["trainings"] == 16


def test_search_efficiency_smoke_replays_every_experiment_over_the_shipped_table() -> None:
    doc, err = run_bench("search_efficiency.py", "--workers", "1")
    assert doc["settings"]["smoke"] is True and doc["table"]["configs"] >= 200
    assert doc["table"]["seeds"] == ["0", "1"] and doc["table"]["epochs"] >= 4
    rows = doc["rows"]
    assert {r["experiment"] for r in rows} == {"concurrency", "per_seed", "asha"}
    assert {r["arm"] for r in rows} == {"random", "tpe", "tpe-noliar", "tpe-10"}
    for row in rows:
        assert 0 < row["random_expected"] <= doc["table"]["best"][row["landscape"]], row
        if row["trials_to_match"] is not None:
            assert 1 <= row["trials_to_match"] <= row["trials"], row
        assert 1 <= row["distinct"] <= row["trials"], row
    compared = [r for r in rows if r["experiment"] == "asha"]
    fifo = {(r["arm"], r["concurrency"]): r for r in compared if r["scheduler"] == "fifo"}
    # ASHA stops some trials at its rung: fewer epochs than FIFO's
    for row in (r for r in compared if r["scheduler"] == "asha"):
        assert row["epochs"] < fifo[row["arm"], row["concurrency"]]["epochs"], row
    assert "searches over" in err  # progress on stderr, not in the document


@pytest.mark.slow
def test_recurrence_smoke_trains_every_model_at_both_difficulties() -> None:
    doc, err = run_bench("recurrence.py")
    assert doc["settings"]["smoke"] is True
    assert list(doc["summary"]) == ["medium", "hard"]
    params = doc["params"]
    assert set(params) == {"rgc", "lstm", "ff"}
    # the feedforward baseline is widened to the RGC's parameter count (the nearest whole width)
    assert abs(params["ff"] - params["rgc"]) <= 0.03 * params["rgc"]
    assert doc["ff_width"] > doc["settings"]["width"]
    assert len(doc["runs"]) == 6  # 2 difficulties x 3 models x 1 smoke seed
    for run in doc["runs"]:
        assert run["status"] == "completed", run
        assert 0 <= run["val_acc"] <= 1, run
        assert len(run["val_acc_per_step"]) == doc["time_steps"][run["model"]], run
    assert "hard ff seed 0" in err  # progress on stderr, not in the document


def test_pathfinder_stats_smoke_measures_every_difficulty() -> None:
    doc, _ = run_bench("pathfinder_stats.py")
    assert [r["difficulty"] for r in doc["rows"]] == ["easy", "medium", "hard"]
    for row in doc["rows"]:
        sides = [doc_side for key, doc_side in row.items() if key in ("matched", "unmatched")]
        assert sides, row
        for side in sides:
            assert 0.5 <= side["threshold"] <= 1.0 and 0.5 <= side["band"] <= 1.0, row
            # every image holds all of its curves (generator v5 held 2.05 of hard's 4)
            assert side["curves_mean"] == row["asks"] and side["all_curves"] == 1.0, row


@pytest.mark.browser
def test_explore_scale_smoke_times_every_plot_endpoint_and_the_page() -> None:
    doc, _ = run_bench("explore_scale.py")
    assert doc["trials"] == 400
    paths = [e["path"] for e in doc["endpoints"]]
    assert any(p.endswith("/plots/trials") for p in paths) and any("/board?" in p for p in paths)
    assert all(0 < e["p50_ms"] <= e["p95_ms"] and e["kB"] > 0 for e in doc["endpoints"])
    if Path("/usr/bin/chromium").exists():
        page = doc["page"]
        assert page["interactive_s"] > 0 and page["brush_ms"] > 0


def test_pls_speed_smoke_compares_with_scikit_learn() -> None:
    doc, _ = run_bench("pls_speed.py")
    (row,) = doc["rows"]
    assert row["ours_s"] > 0 and row["sklearn_s"] > 0 and row["speedup"] > 0
    assert row["max_abs_diff"] < 1e-3 * max(row["max_abs_response"], 1.0)


@pytest.mark.ray
def test_resume_scale_smoke_restarts_a_seeded_search() -> None:
    doc, err = run_bench("resume_scale.py")
    assert doc["trials"] == 200 and doc["finished_at_kill"] == 160
    assert 0 < doc["seconds_to_first_new_trial"] <= doc["seconds_to_16_new_trials"]
    assert "8 trial(s) were interrupted" in err

"""The record commands of the CLI on a populated database (both backends; no Ray)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import yaml
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.cli import app
from search.records import repository as repo
from search.records.db import session_scope
from search.service.schemas import BOARD_COLUMNS
from space.arch import load_arch
from space.cost import cost, human_bytes, human_count
from tests.search.search_helpers import spec_data
from tests.search.service_helpers import populate

runner = CliRunner()


def test_searches_leaderboard_export_cancel(engine: Engine, db_url: str, tmp_path: Path) -> None:
    sid = populate(engine)
    db = ["--db", db_url]

    out = runner.invoke(app, ["searches", "--json", *db])
    assert out.exit_code == 0, out.output
    page = json.loads(out.stdout)
    [row] = page["items"]
    assert page["total"] == 1 and row["id"] == sid and row["finished"] == 3 and row["failed"] == 1
    # One name for a trial's best validation accuracy everywhere: val_acc.
    assert row["val_acc"] == 0.9 and "best_val_acc" not in row

    out = runner.invoke(app, ["leaderboard", str(sid), "--json", *db])
    assert out.exit_code == 0, out.output
    board = json.loads(out.stdout)["items"]
    assert [r["trial"] for r in board] == [1, 0]
    assert isinstance(board[0]["params"], int) and isinstance(board[0]["memory"], int)

    out = runner.invoke(app, ["leaderboard", str(sid), *db])
    assert out.exit_code == 0, out.output
    header = next(line for line in out.stdout.splitlines() if "last_val_acc" in line)
    assert "memory" in header
    assert board[0]["flops"] >= 1000 and f"{board[0]['flops']:,}" not in out.stdout
    assert human_count(board[0]["flops"]) in out.stdout  # humanised: 1.23k, 4.56M, 7.8 KiB
    assert human_bytes(board[0]["memory"]) in out.stdout

    out = runner.invoke(app, ["leaderboard", "tiny", "--csv", "--status", "all", *db])
    assert out.exit_code == 0, out.output
    reader = csv.DictReader(io.StringIO(out.stdout))
    rows = list(reader)
    # Same columns in the same order as the table, then the JSON's extra keys in its order.
    assert list(reader.fieldnames or []) == [k for k in board[0] if k != "sampled"]
    assert list(reader.fieldnames or [])[: len(BOARD_COLUMNS)] == list(BOARD_COLUMNS)
    assert rows[0]["params"] == str(board[0]["params"])
    assert [r["trial"] for r in rows] == ["1", "0", "2"] and rows[2][
        "error"
    ] == "RuntimeError: boom"

    out = runner.invoke(app, ["leaderboard", str(sid), "--sort", "nope", *db])
    assert out.exit_code == 1 and "--sort: unknown metric" in out.output and "'nope'" in out.output
    out = runner.invoke(app, ["leaderboard", str(sid), "--top", "0", *db])
    assert out.exit_code == 1 and "--top: must be at least 1 (got 0)" in out.output
    out = runner.invoke(app, ["leaderboard", str(sid), "--top", "1", *db])
    assert out.exit_code == 0 and "(1 of 2)" in out.output

    out = runner.invoke(app, ["trial", str(sid), "1", *db])
    assert out.exit_code == 0, out.output
    assert "trial 1 of search" in out.stdout and "rank 1" in out.stdout
    assert "training.lr = 0.2" in out.stdout and "0.10 0.90" in out.stdout  # per-step accuracy
    out = runner.invoke(app, ["trial", str(sid), "2", "--json", *db])
    assert out.exit_code == 0 and json.loads(out.stdout)["error"] == "RuntimeError: boom"

    target = tmp_path / "best.json"
    out = runner.invoke(app, ["export", str(sid), "--format", "json", "-o", str(target), *db])
    assert out.exit_code == 0, out.output
    document = json.loads(target.read_text())
    assert document["provenance"]["trial"]["number"] == 1
    assert document["provenance"]["search"]["id"] == sid
    assert document["provenance"]["dataset"]["name"] == "digits"
    arch = load_arch(target)
    assert arch.arch_hash == document["provenance"]["arch_hash"]
    assert cost(arch).params == document["provenance"]["metrics"]["params"]
    assert document["provenance"]["metrics"]["val_acc"] == 0.9

    target = tmp_path / "best.yaml"
    out = runner.invoke(app, ["export", str(sid), "-o", str(target), *db])
    assert out.exit_code == 0 and "val_acc 0.9000" in out.output, out.output
    text = target.read_text()
    assert "&id" not in text and "*id" not in text  # no YAML anchors/aliases
    assert load_arch(target).arch_hash == document["provenance"]["arch_hash"]

    out = runner.invoke(app, ["export", str(sid), "--trial", "0", *db])
    assert out.exit_code == 0 and "number: 0" in out.stdout
    out = runner.invoke(app, ["export", str(sid), "--weights", "-o", str(tmp_path / "w.yaml"), *db])
    assert out.exit_code == 1 and "kept no weights" in out.output
    out = runner.invoke(app, ["export", "999", *db])
    assert out.exit_code == 1 and "no search with id 999" in out.output
    out = runner.invoke(app, ["export", str(sid), "-o", str(tmp_path), *db])
    assert out.exit_code == 1 and "-o/--output: is a folder" in out.output

    out = runner.invoke(app, ["search", "cancel", str(sid), "--json", *db])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["search"]["status"] == "cancelled"
    with session_scope(engine) as s:
        assert repo.resolve_search(s, sid).status == "cancelled"

    out = runner.invoke(app, ["search", "delete", str(sid), "--yes", *db])
    assert out.exit_code == 0 and f"search {sid} deleted" in out.output
    out = runner.invoke(app, ["searches", "--json", *db])
    assert json.loads(out.stdout)["total"] == 0


def test_search_run_rejects_a_bad_spec_without_traceback(tmp_path: Path, db_url: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nclasses: 1\n")
    out = runner.invoke(app, ["search", "run", str(bad), "--db", db_url])
    assert out.exit_code == 1
    assert "classes" in out.output and "Traceback" not in out.output


def test_search_run_checks_its_inputs_before_recording_anything(
    tmp_path: Path, db_url: str
) -> None:
    spec = Path(__file__).parents[2] / "examples" / "quickstart.yaml"
    db = ["--db", db_url]
    cases = {
        "cannot reach the Ray cluster at 127.0.0.1:1": ["--address", "127.0.0.1:1"],
        "not a host": ["--address", "not a host"],
        "is a file, not a folder": ["--runs-dir", str(spec)],
    }
    for message, args in cases.items():
        out = runner.invoke(app, ["search", "run", str(spec), *args, *db])
        assert out.exit_code == 1, out.output
        assert message in out.output and "Traceback" not in out.output
    out = runner.invoke(app, ["searches", "--json", *db])
    assert json.loads(out.stdout)["total"] == 0  # nothing recorded, nothing left queued


def test_search_submit_queues_a_search_for_a_runner(tmp_path: Path, db_url: str) -> None:
    db = ["--db", db_url]
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(spec_data("queued_one")))
    out = runner.invoke(app, ["search", "submit", str(spec), *db])
    assert out.exit_code == 0, out.output
    assert "queued: 4 trials" in out.stdout and "convnas runner" in out.stdout
    out = runner.invoke(app, ["search", "submit", str(spec), "--json", *db])
    assert out.exit_code == 0, out.output
    made = json.loads(out.stdout)
    assert made["status"] == "queued" and made["name"] == "queued_one" and made["requested"] == 4
    page = json.loads(runner.invoke(app, ["searches", "--json", *db]).stdout)
    assert [(s["name"], s["status"]) for s in page["items"]] == [("queued_one", "queued")] * 2

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nclasses: 1\n")
    out = runner.invoke(app, ["search", "submit", str(bad), *db])
    assert out.exit_code == 1 and f"{bad}:2: classes" in out.output, out.output
    assert "Traceback" not in out.output
    out = runner.invoke(app, ["search", "run", str(spec), "--server", "http://x:1", *db])
    assert out.exit_code == 1 and "convnas search submit" in out.output

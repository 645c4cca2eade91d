"""The record commands of the CLI on a populated database (both backends; no Ray)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from search_helpers import tiny_spec
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.cli import app
from search import repository as repo
from search.db import Trial, session_scope
from search.driver import create_search
from space.arch import load_arch
from space.cost import cost
from space.sampling import sample

runner = CliRunner()


def populate(engine: Engine) -> int:
    spec = tiny_spec(trials=3)
    search_id = create_search(engine, spec)
    with session_scope(engine) as s:
        for number, acc in enumerate([0.5, 0.9, None]):
            arch = sample(spec, seed=number)
            c = cost(arch)
            s.add(
                Trial(
                    search_id=search_id,
                    number=number,
                    status="completed" if acc is not None else "failed",
                    arch=arch.to_dict(),
                    arch_hash=arch.arch_hash,
                    config_hash=arch.config_hash,
                    params={"training.lr": 0.1},
                    n_params=c.params,
                    flops=c.flops,
                    best_val_acc=acc,
                    epochs=2,
                    pareto=False,
                    error=None if acc is not None else "RuntimeError: boom",
                )
            )
    return search_id


def test_searches_leaderboard_export_cancel(engine: Engine, db_url: str, tmp_path: Path) -> None:
    sid = populate(engine)
    db = ["--db", db_url]

    out = runner.invoke(app, ["searches", "--json", *db])
    assert out.exit_code == 0, out.output
    [row] = json.loads(out.stdout)
    assert row["id"] == sid and row["finished"] == 3 and row["failed"] == 1

    out = runner.invoke(app, ["leaderboard", str(sid), "--json", *db])
    assert out.exit_code == 0, out.output
    assert [r["trial"] for r in json.loads(out.stdout)] == [1, 0]

    out = runner.invoke(app, ["leaderboard", "tiny", "--csv", "--status", "all", *db])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["trial"] for r in rows] == ["1", "0", "2"] and rows[2][
        "error"
    ] == "RuntimeError: boom"

    out = runner.invoke(app, ["leaderboard", str(sid), "--sort", "nope", *db])
    assert out.exit_code == 1 and "unknown metric 'nope'" in out.output

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

    out = runner.invoke(app, ["export", str(sid), "--trial", "0", *db])
    assert out.exit_code == 0 and "number: 0" in out.stdout
    out = runner.invoke(app, ["export", str(sid), "--weights", "-o", str(tmp_path / "w.yaml"), *db])
    assert out.exit_code == 1 and "kept no weights" in out.output
    out = runner.invoke(app, ["export", "999", *db])
    assert out.exit_code == 1 and "no search with id 999" in out.output

    out = runner.invoke(app, ["search", "cancel", str(sid), "--json", *db])
    assert out.exit_code == 0, out.output
    with session_scope(engine) as s:
        assert repo.resolve_search(s, sid).status == "cancelled"


def test_search_run_rejects_a_bad_spec_without_traceback(tmp_path: Path, db_url: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nclasses: 1\n")
    out = runner.invoke(app, ["search", "run", str(bad), "--db", db_url])
    assert out.exit_code == 1
    assert "classes" in out.output and "Traceback" not in out.output

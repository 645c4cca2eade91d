"""``convnas space validate|describe|sample|schema`` as a user runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from typer.testing import CliRunner

from api.cli import app
from space.arch import arch_from_data, load_arch
from space.errors import RENDER_LIMIT

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
QUICKSTART = str(EXAMPLES / "quickstart.yaml")
runner = CliRunner()

BAD = """\
name: bad
dataset: digits
input: {size: 16, channels: 1}
classes: 10
layers:
  - {name: a, channels: 0}
  - {name: b, channels: 8, cell: missing}
time: {steps: 3}
"""


def test_validate_ok_prints_one_line() -> None:
    result = runner.invoke(app, ["space", "validate", QUICKSTART])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "quickstart" in lines[0] and "architectures: 160" in lines[0]


def test_validate_every_example() -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        result = runner.invoke(app, ["space", "validate", str(path), "--json", "--no-data"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["ok"] is True


def test_validate_checks_the_dataset_exists_unless_told_not_to(tmp_path: Path) -> None:
    spec = yaml.safe_load(Path(QUICKSTART).read_text())
    spec["dataset"] = {"name": "npz", "path": str(tmp_path / "missing.npz")}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = runner.invoke(app, ["space", "validate", str(path)])
    assert result.exit_code == 1 and "dataset.path" in result.output
    assert "missing.npz" in result.output and "Traceback" not in result.output
    assert runner.invoke(app, ["space", "validate", str(path), "--no-data"]).exit_code == 0


def test_validate_bad_spec_lists_every_problem(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD)
    result = runner.invoke(app, ["space", "validate", str(spec)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"{spec}:6: layers.0.channels" in result.output
    result = runner.invoke(app, ["space", "validate", str(spec), "--json"])
    assert result.exit_code == 1
    errors = json.loads(result.output)["errors"]
    # the format error and, checked on what parsed, the cross-field one: all at once
    assert [e["path"] for e in errors] == ["layers.0.channels", "layers.1.cell"]
    assert errors[0]["line"] == 6 and errors[0]["value"] == 0
    assert errors[1]["line"] == 7 and errors[1]["value"] == "missing"


def test_validate_semantic_problem(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD.replace("channels: 0", "channels: 8"))
    result = runner.invoke(app, ["space", "validate", str(spec), "--json"])
    assert result.exit_code == 1
    (error,) = json.loads(result.output)["errors"]
    assert (error["path"], error["line"], error["value"]) == ("layers.1.cell", 7, "missing")


def test_validate_missing_file() -> None:
    result = runner.invoke(app, ["space", "validate", "no/such/file.yaml"])
    assert result.exit_code == 1
    assert "file not found" in result.output


def test_describe_table_and_json() -> None:
    result = runner.invoke(app, ["space", "describe", QUICKSTART])
    assert result.exit_code == 0, result.output
    assert "cells.main.rgc.cell_depth" in result.output
    assert "architectures: 160" in result.output
    result = runner.invoke(app, ["space", "describe", QUICKSTART, "--json"])
    data = json.loads(result.output)
    assert data["architectures"] == 160 and data["exact"] is True
    assert {"label", "domain", "condition", "size"} <= set(data["params"][0])


def test_describe_lists_the_ties_of_the_paper_space() -> None:
    paper = str(Path(QUICKSTART).parent / "paper_rgc.yaml")
    result = runner.invoke(app, ["space", "describe", paper])
    assert result.exit_code == 0, result.output
    assert "tie: cells.rgc.tau_multiplier tied to tau_offset * -1" in result.output
    data = json.loads(runner.invoke(app, ["space", "describe", paper, "--json"]).output)
    assert {t["label"] for t in data["ties"]} == {
        "cells.rgc.tau_multiplier",
        "cells.rgc.gate_multiplier",
    }


def test_sample_yaml_is_a_loadable_arch_and_deterministic(tmp_path: Path) -> None:
    first = runner.invoke(app, ["space", "sample", QUICKSTART, "--seed", "4"])
    again = runner.invoke(app, ["space", "sample", QUICKSTART, "--seed", "4"])
    assert first.exit_code == 0, first.output
    assert first.output == again.output
    path = tmp_path / "arch.yaml"
    path.write_text(first.output)
    arch = load_arch(path)
    assert arch.meta == {"space": "quickstart"}
    assert f"arch_hash {arch.arch_hash}" in first.output


def test_sample_count_and_json() -> None:
    result = runner.invoke(app, ["space", "sample", QUICKSTART, "--count", "3"])
    docs = [d for d in yaml.safe_load_all(result.output) if d]
    assert len(docs) == 3
    result = runner.invoke(app, ["space", "sample", QUICKSTART, "--count", "3", "--json"])
    records = json.loads(result.output)
    assert [r["seed"] for r in records] == [0, 1, 2]
    for record in records:
        assert arch_from_data(record["arch"]).arch_hash == record["arch_hash"]
    single = json.loads(runner.invoke(app, ["space", "sample", QUICKSTART, "--json"]).output)
    assert single["seed"] == 0 and "params" in single


def test_schema_is_json_schema() -> None:
    result = runner.invoke(app, ["space", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["title"] == "convnas search spec" and "$defs" in schema
    as_json = runner.invoke(app, ["space", "schema", "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.output) == schema


def test_out_of_range_count_shows_the_value() -> None:
    result = runner.invoke(app, ["space", "sample", QUICKSTART, "--count", "0"])
    assert result.exit_code == 2
    assert "(got 0)" in result.output


def test_impossible_constraints_warn_and_mark_samples(tmp_path: Path) -> None:
    spec = yaml.safe_load(Path(QUICKSTART).read_text())
    spec["constraints"] = {"max_params": 100}
    path = tmp_path / "tight.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = runner.invoke(app, ["space", "validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: ")
    assert "warning: none of" in result.stderr and "max_params 100" in result.stderr
    data = json.loads(runner.invoke(app, ["space", "validate", str(path), "--json"]).stdout)
    assert data["ok"] is True and len(data["warnings"]) == 1
    record = json.loads(runner.invoke(app, ["space", "sample", str(path), "--json"]).stdout)
    assert record["over_budget"] and record["over_budget"][0].startswith("params ")
    text = runner.invoke(app, ["space", "sample", str(path)]).stdout
    assert "# OVER BUDGET" in text
    yaml.safe_load(text)  # still a loadable arch file (the mark is a comment)
    fits = json.loads(runner.invoke(app, ["space", "sample", QUICKSTART, "--json"]).stdout)
    assert fits["over_budget"] == []
    ok = json.loads(runner.invoke(app, ["space", "validate", QUICKSTART, "--json"]).stdout)
    assert ok["warnings"] == []


def test_schema_json_prints_compact_json_and_the_default_stays_indented() -> None:
    default = runner.invoke(app, ["space", "schema"])
    compact = runner.invoke(app, ["space", "schema", "--json"])
    assert default.exit_code == compact.exit_code == 0
    assert len(default.output.splitlines()) > 100  # indented for reading, as before
    assert len(compact.output.splitlines()) == 1
    assert json.loads(compact.output) == json.loads(default.output)


def test_sample_refuses_a_seed_outside_0_to_2_32() -> None:
    for seed in ("-1", str(2**32)):
        result = runner.invoke(app, ["space", "sample", QUICKSTART, "--seed", seed])
        assert result.exit_code == 2, result.output
        assert "--seed" in flat(result.output) and f"(got {seed})" in flat(result.output)
        assert "Traceback" not in result.output
    last = runner.invoke(app, ["space", "sample", QUICKSTART, "--seed", str(2**32 - 1)])
    assert last.exit_code == 0, last.output
    beyond = runner.invoke(
        app, ["space", "sample", QUICKSTART, "--seed", str(2**32 - 1), "--count", "2"]
    )
    assert beyond.exit_code == 2 and "--seed" in beyond.output


def flat(output: str) -> str:
    """Typer's error box without its borders and line breaks (it wraps at 80 columns)."""
    return " ".join(word for word in output.split() if word not in ("│", "╭─", "╰─"))


def test_a_flood_of_problems_is_shown_in_part_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("name: x\n" + "".join(f"k{i}: 0\n" for i in range(300)))
    result = runner.invoke(app, ["space", "validate", str(path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) < 60 and lines[-1].strip().startswith("... and ")
    data = json.loads(runner.invoke(app, ["space", "validate", str(path), "--json"]).stdout)
    # The JSON lists as many as the API does (RENDER_LIMIT) and counts the rest.
    assert len(data["errors"]) == RENDER_LIMIT + 1
    assert re.fullmatch(
        r"\.\.\. and \d+ more problems \(not listed\)", data["errors"][-1]["message"]
    )

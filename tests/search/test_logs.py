"""JSON log lines (issue 20): with CONVNAS_LOG_FORMAT=json every line is one JSON object that
names the search and trial it concerns; text (the default) leaves Python's logging alone."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from search import logs
from tests.search.search_helpers import spec_data


@pytest.fixture
def json_handler() -> Iterator[None]:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    root.handlers[:] = before
    root.setLevel(level)


def test_text_leaves_logging_alone(json_handler: None) -> None:
    before = list(logging.getLogger().handlers)
    assert logs.configure("text") is False and not logs.json_logs()
    assert logging.getLogger().handlers == before


def test_json_lines_carry_the_search_and_trial_of_their_context(
    json_handler: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert logs.configure("json") and logs.configure("json")  # once, however often asked
    log = logging.getLogger("convnas.test")
    with logs.about(search_id=7):
        log.info("search line")
        with logs.about(trial=3):
            log.warning("trial %s line", 3)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    log.info("outside")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(x["message"], x["search_id"], x["trial"]) for x in lines] == [
        ("search line", 7, None),
        ("trial 3 line", 7, 3),
        ("failed", 7, None),
        ("outside", None, None),
    ]
    assert lines[1]["level"] == "warning" and lines[1]["logger"] == "convnas.test"
    assert "ValueError: boom" in lines[2]["exception"]
    assert lines[0]["time"].endswith("+00:00")


@pytest.mark.slow
@pytest.mark.ray
def test_a_search_run_logs_json_lines_naming_its_search_and_trials(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_data("logged", trials=2, concurrency=1, epochs=1)))
    env = {**os.environ, "CONVNAS_LOG_FORMAT": "json", "RAY_AUTH_MODE": "disabled"}
    convnas = str(Path(sys.executable).parent / "convnas")
    url = f"sqlite:///{tmp_path / 'l.db'}"
    args = [convnas, "search", "run", str(spec), "--db", url, "--storage", str(tmp_path / "r")]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(x) for x in done.stderr.splitlines() if x.startswith("{")]
    trials = [x for x in lines if x["logger"] == "search.run.ledger"]
    assert {x["trial"] for x in trials} == {0, 1}, lines
    assert all(x["search_id"] == 1 for x in trials)
    assert all(x["message"].startswith(f"trial {x['trial']} completed") for x in trials)

"""CLI output piped to a file or a test runner: the same whatever the terminal width says."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.commands.output import console

runner = CliRunner()


def test_piped_text_lines_are_never_wrapped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    line = "fitting /a/very/long/path/" + "x" * 200 + " (untrained (random init, seed 0))"
    console().print(line)
    assert capsys.readouterr().out == line + "\n"


def test_a_cli_table_is_as_wide_at_any_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = []
    for columns in ("30", "300"):
        monkeypatch.setenv("COLUMNS", columns)
        result = runner.invoke(app, ["arch", "summary", "rgc_shallow"])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert outputs[0] == outputs[1]

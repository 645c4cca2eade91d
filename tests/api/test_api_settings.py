"""Server settings fail closed (issue 18): a setting that is present but unusable refuses to
start, naming the variable and what it accepts; it never leaves the server open.

Every line of ``tests/hostile/settings/fail_open_settings.txt`` is tried in-process and one is
tried through ``convnas serve`` itself (exit 2, before anything listens).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import ApiSettings, get_api_settings
from space.settings import SettingsError

CORPUS = Path(__file__).resolve().parents[1] / "hostile" / "settings" / "fail_open_settings.txt"


def corpus() -> list[tuple[str, str]]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if line and not line.startswith("#")]  # type: ignore[misc]


def _value(raw: str, tmp_path: Path) -> str:
    """``{file:TEXT}`` -> the path of a file holding TEXT."""
    if raw.startswith("{file:") and raw.endswith("}"):
        path = tmp_path / "tokens"
        path.write_text(raw[len("{file:") : -1].replace("\\n", "\n"), encoding="utf-8")
        return str(path)
    return raw


@pytest.mark.parametrize(("setting", "said"), corpus(), ids=[line for line, _ in corpus()])
def test_unusable_setting_refuses_to_start(
    setting: str, said: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name, _, raw = setting.partition("=")
    monkeypatch.setenv(name, _value(raw, tmp_path))
    with pytest.raises(SettingsError) as caught:
        get_api_settings()
    assert said in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_hash_in_the_environment_is_part_of_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVNAS_API_TOKEN", "#Xy9-secret")
    assert get_api_settings().tokens() == ["#Xy9-secret"]


def test_a_bad_token_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVNAS_API_TOKEN", "secret with\ttab")
    with pytest.raises(SettingsError) as caught:
        get_api_settings()
    assert "secret" not in str(caught.value)


def test_tokens_file_comments_and_blank_lines(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# lab tokens\nalpha\n\n  beta  \n#gamma\n", encoding="utf-8")
    assert ApiSettings(api_tokens_file=tokens).tokens() == ["alpha", "beta"]


def test_serve_exits_2_naming_the_setting(tmp_path: Path) -> None:
    env = {**os.environ, "CONVNAS_API_READ": "token"}
    env.pop("CONVNAS_API_TOKEN", None)
    env.pop("CONVNAS_API_TOKENS_FILE", None)
    command = [sys.executable, "-c", "from api.cli import main; main()", "serve", "--port", "1"]
    done = subprocess.run(
        [*command, "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "CONVNAS_API_READ=token needs a token" in done.stderr
    assert "Traceback" not in done.stderr and "convnas bug" not in done.stderr
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened

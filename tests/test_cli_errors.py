"""The one place that reports unexpected errors: a named line and a hint, the traceback only
with --debug or CONVNAS_DEBUG=1."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Runs the real console entry point with presets() broken, as a bug anywhere would break it.
BROKEN = (
    "import sys, space.presets as p\n"
    "def boom(*a, **k):\n"
    "    raise RuntimeError('boom in presets')\n"
    "p.list_presets = boom\n"
    "sys.argv = ['convnas', *sys.argv[1:]]\n"
    "from api.cli import main\n"
    "main()\n"
)


def _run(*args: str, debug_env: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONVNAS_DEBUG": "1" if debug_env else ""}
    return subprocess.run(
        [sys.executable, "-c", BROKEN, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_an_unexpected_error_is_one_named_line_with_a_hint() -> None:
    done = _run("presets")
    assert done.returncode == 70
    assert "error: unexpected RuntimeError: boom in presets" in done.stderr
    assert "--debug" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(how: str) -> None:
    done = _run("--debug", "presets") if how == "flag" else _run("presets", debug_env=True)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError: boom in presets" in done.stderr

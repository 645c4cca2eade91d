"""The CLI refuses hostile documents like a user sees it: a memory-limited subprocess, exit code 1,
a named message and no traceback, in a few seconds (issue 9)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "hostile" / "documents"
CONVNAS = Path(sys.executable).with_name("convnas")
MEMORY_LIMIT = 2 * 1024**3  # address space; a bomb reached 8.8 GB before the bounds
CPU_LIMIT_S = 30  # a runaway child is killed by the kernel, so the wait below always ends

# A fragment of the message refusing each corpus file (see tests/hostile/documents/README.md).
EXPECTED = {
    "alias_bomb.yaml": "nodes with aliases expanded",  # MAX_SPEC_NODES for a spec, else MAX_NODES
    "recursive_alias.yaml": "recursive alias",
    "recursive_alias_mapping.yaml": "recursive alias",
    "deep_nesting.yaml": "limit MAX_DEPTH",
    "deep_nesting.json": "limit MAX_DEPTH",
    "many_aliases.yaml": "limit MAX_ALIASES",
    "huge_integer.yaml": "4300 digits",
    "alias_amplification.yaml": "limit MAX_EXPANDED_TEXT",
    "nul_in_description.yaml": "must not contain a NUL character",
    "huge_integer_channels.yaml": "integer out of range",
}


@dataclass
class Run:
    code: int
    output: str
    seconds: float
    max_rss_bytes: int


# Forked from this (large) test process, a child's peak RSS would start at ours: Linux keeps
# the parent's high-water mark across fork and exec. A small launcher forks the CLI instead, so
# the peak measured (os.wait4 in the launcher) is the CLI's own.
LAUNCHER = f"""
import os, resource, sys
report, command = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))
    resource.setrlimit(resource.RLIMIT_CPU, ({CPU_LIMIT_S}, {CPU_LIMIT_S}))
    os.execv(command[0], command)
_, status, usage = os.wait4(pid, 0)
open(report, "w").write(f"{{os.waitstatus_to_exitcode(status)}} {{usage.ru_maxrss * 1024}}")
"""


def convnas(tmp_path: Path, *args: str) -> Run:
    """Run the CLI under the memory and CPU limits; its exit code and its own peak memory."""
    log, report = tmp_path / "output.txt", tmp_path / "rusage.txt"
    start = time.perf_counter()
    with log.open("wb") as out:
        subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(report), str(CONVNAS), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "200"},
            check=True,
            timeout=CPU_LIMIT_S * 4,
        )
    seconds = time.perf_counter() - start
    code, rss = (int(x) for x in report.read_text().split())
    return Run(code, log.read_text(), seconds, rss)


def assert_refused(run: Run, fragment: str) -> None:
    assert run.code == 1, run.output
    assert "Traceback" not in run.output and "Error:" not in run.output.split("\n")[0]
    assert fragment in run.output, run.output
    assert run.seconds < 10  # interpreter start included; the refusal itself takes milliseconds
    assert run.max_rss_bytes < 1024**3


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_space_validate_refuses_hostile_document(tmp_path: Path, name: str) -> None:
    run = convnas(tmp_path, "space", "validate", str(CORPUS / name))
    assert_refused(run, EXPECTED[name])
    assert str(CORPUS / name) in run.output


# Arch files go through the same reader; one case per kind of bound is enough.
@pytest.mark.parametrize("name", ["alias_bomb.yaml", "recursive_alias.yaml", "deep_nesting.json"])
def test_arch_summary_refuses_hostile_document(tmp_path: Path, name: str) -> None:
    assert_refused(convnas(tmp_path, "arch", "summary", str(CORPUS / name)), EXPECTED[name])


def test_cli_refuses_million_unknown_keys_by_size(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("".join(f"k{i}: 0\n" for i in range(1_500_000)))
    assert_refused(convnas(tmp_path, "space", "validate", str(path)), "limit MAX_DOCUMENT_BYTES")


def test_cli_json_output_names_the_limit(tmp_path: Path) -> None:
    run = convnas(tmp_path, "space", "validate", "--json", str(CORPUS / "alias_bomb.yaml"))
    assert run.code == 1
    assert '"ok": false' in run.output and "MAX_SPEC_NODES" in run.output
    assert '"line": 6' in run.output  # the alias use that passes the spec's limit (level e)

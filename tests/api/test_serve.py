"""``convnas serve`` as a real process on a free port: it says whether auth is on, answers
health, stops its runner process when it stops, and (slow) runs a tiny search submitted over
HTTP to the end, whose exported best architecture rebuilds the model."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from tests.search.search_helpers import spec_data

SERVE = [sys.executable, "-c", "from api.cli import main; main()", "serve"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """``convnas serve`` on a free port with a fresh SQLite database: its URL, process and
    output file; stopped (its runner too) at the end, whatever happened."""
    port = free_port()
    out = tmp_path / "serve.out"
    environment = {**os.environ, "RAY_AUTH_MODE": "disabled", **(env or {})}
    environment["CONVNAS_RUNS_DIR"] = str(tmp_path / "runs")
    command = [*SERVE, "--port", str(port), "--db", f"sqlite:///{tmp_path / 'serve.db'}", *args]
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=environment,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, f"no answer from {url}:\n{out.read_text()}"
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url, proc, out
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


def runner_of(server: int) -> list[int]:
    """The pids of the runner processes ``convnas serve`` (pid ``server``) started."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        flag = b"--exit-with-parent"
        if flag in argv and argv[argv.index(flag) + 1] == str(server).encode():
            found.append(int(entry.name))
    return found


def test_serve_without_a_token_says_so_binds_loopback_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    with serving(tmp_path, "--no-runner") as (url, proc, out):
        health = httpx.get(f"{url}/api/v1/health").json()
        assert health["database"] == "ok" and health["runners"] == []
        assert runner_of(proc.pid) == []  # --no-runner
        code = stop(proc)
    said = out.read_text()
    assert code == 0, said
    assert "auth off (no CONVNAS_API_TOKEN or CONVNAS_API_TOKENS_FILE)" in said
    assert f"Uvicorn running on {url}" in said  # 127.0.0.1 unless --host says otherwise


def test_serve_with_a_token_says_auth_is_on_and_stops_its_runner(tmp_path: Path) -> None:
    with serving(tmp_path, env={"CONVNAS_API_TOKEN": "s3cret"}) as (url, proc, out):
        assert httpx.post(f"{url}/api/v1/searches", json=spec_data()).status_code == 401
        deadline = time.monotonic() + 60
        while ": watching sqlite:" not in out.read_text():  # the runner's loop started
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        (runner,) = runner_of(proc.pid)
        code = stop(proc)
    said = out.read_text()
    assert code == 0, said
    assert "auth on (1 token(s); reads are open)" in said, said
    assert f"runner {socket.gethostname()}:{runner}: stopped" in said, said
    assert runner_of(proc.pid) == [] and not Path(f"/proc/{runner}").exists()


@pytest.mark.slow
@pytest.mark.ray
def test_a_search_submitted_over_http_runs_and_its_export_rebuilds_the_model(
    tmp_path: Path,
) -> None:
    from space.arch import arch_from_data
    from space.nn import build_model

    with serving(tmp_path) as (url, proc, out):
        spec = spec_data("e2e", trials=2, concurrency=2, epochs=1)
        created = httpx.post(f"{url}/api/v1/searches", json=spec)
        assert created.status_code == 201, created.text
        search = created.json()
        assert search["status"] == "queued"
        assert created.headers["location"].endswith(f"/api/v1/searches/{search['id']}")
        deadline = time.monotonic() + 300
        while search["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(1)
            search = httpx.get(f"{url}/api/v1/searches/{search['id']}").json()
        assert (search["status"], search["finished"]) == ("succeeded", 2), out.read_text()
        board = httpx.get(f"{url}/api/v1/searches/e2e/trials").json()
        assert board["total"] == 2
        best = board["items"][0]
        exported = httpx.get(f"{url}/api/v1/searches/e2e/export", params={"format": "yaml"})
        assert exported.status_code == 200, exported.text
        # The web process loaded neither Ray nor torch: the runner process did the work.
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert "_raylet" not in maps and "libtorch" not in maps
    document = yaml.safe_load(exported.text)
    assert document["provenance"]["trial"]["number"] == best["trial"]
    model = build_model(arch_from_data(document["arch"]))
    assert sum(p.numel() for p in model.parameters()) == best["params"]


CLI = [sys.executable, "-c", "from api.cli import main; main()"]


@pytest.mark.slow
@pytest.mark.ray
def test_the_cli_submits_watches_and_exports_through_the_server(tmp_path: Path) -> None:
    from space.arch import load_arch
    from space.nn import build_model

    spec = tmp_path / "cli.yaml"
    spec.write_text(yaml.safe_dump(spec_data("cli", trials=2, concurrency=2, epochs=1)))

    def convnas(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CONVNAS_SERVER": url}
        env.pop("CONVNAS_DATABASE_URL", None)
        return subprocess.run(
            [*CLI, *args], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
        )

    with serving(tmp_path) as (url, _, out):
        submitted = convnas("search", "submit", str(spec), "--json")
        assert submitted.returncode == 0, submitted.stderr
        assert json.loads(submitted.stdout)["status"] == "queued"
        deadline = time.monotonic() + 300
        while True:
            listed = convnas("searches", "--json")
            assert listed.returncode == 0, listed.stderr
            [search] = json.loads(listed.stdout)["items"]
            if search["status"] not in ("queued", "running"):
                break
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(1)
        assert (search["status"], search["finished"]) == ("succeeded", 2), out.read_text()
        board = json.loads(convnas("leaderboard", "cli", "--json").stdout)
        done = convnas("export", "cli", "-o", "best.yaml")
        assert done.returncode == 0, done.stderr
    model = build_model(load_arch(tmp_path / "best.yaml"))
    assert sum(p.numel() for p in model.parameters()) == board["items"][0]["params"]

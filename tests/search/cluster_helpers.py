"""A two-node Ray cluster on this machine for the cluster tests: ``ray start --head`` and
``ray start --address=...``, each in a session of its own, so that one node (its raylet and
every worker it spawned) is killed alone, and everything is stopped at the end.

Every process runs with ``RAY_AUTH_MODE=token`` and a fresh token in ``RAY_AUTH_TOKEN`` (Ray's
token authentication, on by default for ``ray start``): nothing is written to ``~/.ray``, and the
tests' local Ray instances (``RAY_AUTH_MODE=disabled``) are not touched. ``ray stop`` is never
used: it stops every Ray process of the machine, other tests' too.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

# Ray's worker ports are 10002-19999 and 6379 is Redis': the GCS listens elsewhere.
GCS_PORTS = range(26000, 26999)
READY = "Ray runtime started"
RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    for _ in range(200):
        port = GCS_PORTS[secrets.randbelow(len(GCS_PORTS))]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for the Ray GCS")


def session_pids(sid: int) -> list[int]:
    """Every process of session ``sid`` (a node started with ``setsid``: its raylet, agents and
    the workers the raylet spawned, which take process groups of their own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid:  # state, ppid, pgrp, session
            found.append(int(entry.name))
    return found


def kill_session(sid: int) -> None:
    for pid in session_pids(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class Started:
    """A process started in its own session, with its output in ``log``."""

    proc: subprocess.Popen[bytes]
    log: Path
    handle: IO[bytes]

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL to the whole session (the process may have exited: its children remain)."""
        kill_session(self.proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.handle.close()


@dataclass
class LocalCluster:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cvrc-")))
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(32))
    started: list[Started] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "CONVNAS_"))}
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, **extra)
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        return env

    def spawn(self, name: str, args: list[str], **env: str) -> Started:
        log = self.root / f"{name}.log"
        handle = log.open("wb")
        proc = subprocess.Popen(
            args,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=self.env(**env),
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        started = Started(proc, log, handle)
        self.started.append(started)
        return started

    def start_node(
        self, name: str, resource: str, head: bool = False, env: dict[str, str] | None = None
    ) -> Started:
        common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--block"]
        common += [f"--resources={json.dumps({resource: 1})}", "--disable-usage-stats"]
        if head:
            where = ["--head", f"--port={self.port}", f"--temp-dir={self.root / 'ray'}"]
            where += ["--include-dashboard=false"]
        else:
            where = [f"--address={self.address}"]
        node = self.spawn(name, [RAY, "start", *where, *common], **(env or {}))
        self.wait_for(node, READY, 90)
        return node

    def wait_for(self, started: Started, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in started.text():
            if started.proc.poll() is not None:
                raise RuntimeError(f"{started.log.name} exited:\n{started.text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{started.log.name}: no {text!r}:\n{started.text()[-3000:]}")
            time.sleep(0.2)

    def nodes(self, resources: set[str], timeout: float = 60) -> dict[str, str]:
        """Custom resource -> node id, once exactly one live node has each of ``resources``
        (a node killed a moment ago may still be listed alive: then wait)."""
        code = (
            f"import json, ray; ray.init(address={self.address!r}, log_to_driver=False)\n"
            "print('NODES=' + json.dumps([[n['NodeID'], sorted(n['Resources'])] "
            "for n in ray.nodes() if n['Alive']]))"
        )
        deadline = time.monotonic() + timeout
        while True:
            out = subprocess.run(
                [sys.executable, "-c", code],
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            line = next((x for x in out.stdout.splitlines() if x.startswith("NODES=")), "")
            listed: list[Any] = json.loads(line[6:]) if line else []
            owners: dict[str, list[str]] = {}
            for node_id, names in listed:
                for name in set(names) & resources:
                    owners.setdefault(name, []).append(node_id)
            if all(len(owners.get(name, [])) == 1 for name in resources):
                return {name: ids[0] for name, ids in owners.items()}
            if time.monotonic() > deadline:
                raise RuntimeError(f"Ray nodes {owners} (wanted {resources}): {out.stderr[-2000:]}")
            time.sleep(1)

    def stop(self) -> None:
        """Kill everything started here (every process of each session) and remove the files."""
        for started in reversed(self.started):
            started.kill()
        self.started.clear()
        shutil.rmtree(self.root, ignore_errors=True)

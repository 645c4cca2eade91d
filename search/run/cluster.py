"""Whether this machine can drive a search on a Ray cluster right now.

A runner stays up for days while its cluster does not: after a head restart the runner's local
raylet (``ray start --num-cpus=0`` beside it) is gone, so connecting fails although the head's
port answers again. The runner asks :func:`can_drive` before it claims a search, and leaves
the queue as it is while the answer is no, retrying with :class:`Backoff`.

The check is the driver's own first step, ``ray.init(address)``, made in a child process with a
time limit (the runner itself never loads Ray), after the cheap TCP probe of the address.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field

from search.run.preflight import RayAddressError, check_ray_address

PROBE_TIMEOUT = 60.0


def can_drive(address: str | None, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when a driver here can connect to ``address`` (None: a local Ray of its own, always
    possible); else why not, in one line."""
    if address is None:
        return None
    try:
        check_ray_address(address)
    except RayAddressError as exc:
        return str(exc)
    command = [sys.executable, "-m", "search.run.cluster", address]
    try:
        done = subprocess.run(  # noqa: S603 (our own module, a list of strings)
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return f"ray_address: {address} did not accept a connection within {timeout:g}s"
    if done.returncode == 0:
        return None
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    why = lines[-1].strip() if lines else f"exit code {done.returncode}"
    return f"cannot connect to the Ray cluster at {address}: {why}"[:500]


@dataclass
class Backoff:
    """Waits that double from ``first`` up to ``most`` seconds while a check keeps failing."""

    first: float = 5.0
    most: float = 60.0
    _wait: float = field(default=0.0, init=False)
    _next: float = field(default=0.0, init=False)

    def due(self, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) >= self._next

    def failed(self, now: float | None = None) -> float:
        """Note a failure; returns the seconds until the next try."""
        self._wait = min(self.most, self._wait * 2 if self._wait else self.first)
        self._next = (now if now is not None else time.monotonic()) + self._wait
        return self._wait

    def succeeded(self) -> None:
        self._wait, self._next = 0.0, 0.0


def _probe(address: str) -> int:
    import logging

    import ray

    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    except Exception as exc:  # Ray's own message says what is missing
        print(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        return 1
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(_probe(sys.argv[1]))

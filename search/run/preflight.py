"""Checks a search run makes before it spends anything: the Ray address answers, the runs
location (a local folder or ``s3://``) is writable, the database is writable
(:func:`check_run_inputs` does all three; a CLI can call it before it even stores the search).
Each failure is a named error that says what to fix, raised before the search is claimed, so it
stays as it was (queued) and nothing is recorded.

Ray itself retries an unreachable address for many minutes without a word, hence the TCP probe
with a timeout here; a reachable port that is not Ray is still Ray's to report.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from sqlalchemy import Engine

from search.records.db import check_writable
from search.records.storage import (
    RunsDir,
    RunsLocation,
    check_runs_location,
    runs_location,
)
from search.records.storage import RunsDirError as RunsDirError  # one of this module's errors
from search.settings import get_settings
from space.errors import ConvnasError

RAY_CONNECT_TIMEOUT = 5.0
# Addresses Ray resolves itself: "auto" (the local cluster's address file, RAY_ADDRESS) and
# "local" (start a new local instance).
RAY_KEYWORDS = ("auto", "local")
# Dot-separated labels of letters, digits, '-' and '_' (what resolvers accept), 253 at most.
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_][A-Za-z0-9_-]{0,62}(\.[A-Za-z0-9_-]{1,63})*\.?$")
_ADDRESS_HELP = "expected HOST:PORT such as 127.0.0.1:6379, or ray://HOST:PORT"


class RayAddressError(ConvnasError):
    """A Ray address that is malformed or does not answer (the message names it)."""


def parse_ray_address(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a Ray address; None for the keywords Ray resolves itself.

    Raises :class:`RayAddressError` naming the address when it is not ``[ray://]HOST:PORT``.
    """
    text = address.strip()
    if text in RAY_KEYWORDS:
        return None
    rest = text.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        valid = _is_ip(host)
    else:
        # An IPv6 address needs its brackets: in "::1:6379" the port is ambiguous.
        valid = ":" not in host and (_is_ip(host) or bool(_HOSTNAME.match(host)))
    if not sep or not valid or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayAddressError(f"ray_address: {address!r} is not a Ray address ({_ADDRESS_HELP})")
    return host, int(port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_ray_address(address: str, timeout: float = RAY_CONNECT_TIMEOUT) -> None:
    """Refuse a malformed address, or one nothing answers on within ``timeout`` seconds."""
    parsed = parse_ray_address(address)
    if parsed is None:
        return
    try:
        with socket.create_connection(parsed, timeout=timeout):
            pass
    except TimeoutError:
        raise RayAddressError(
            f"cannot reach the Ray cluster at {address} within {timeout:g}s: no answer"
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise RayAddressError(
            f"cannot reach the Ray cluster at {address} within {timeout:g}s: {reason}"
        ) from None


def check_runs_dir(value: RunsDir | RunsLocation) -> RunsLocation:
    """The runs location (a local folder or ``s3://``), created if missing and proven writable
    (:mod:`search.records.storage`)."""
    return check_runs_location(runs_location(value))


def check_run_inputs(
    engine: Engine, ray_address: str | None, runs_dir: RunsDir | RunsLocation | None
) -> tuple[str | None, RunsLocation]:
    """Check what a run will use, with the settings' defaults (``CONVNAS_RAY_ADDRESS``,
    ``CONVNAS_RUNS_DIR``) for what is not given: returns the Ray address (None: a local Ray)
    and the runs location, resolved. Raises :class:`RayAddressError`, :class:`RunsDirError` or
    ``search.records.db.DatabaseError``."""
    settings = get_settings()
    address = ray_address or settings.ray_address
    if address:
        check_ray_address(address)
    runs = check_runs_dir(runs_dir or settings.runs_dir)
    check_writable(engine)
    return address, runs

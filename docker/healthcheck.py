#!/usr/bin/env python3
"""The API container's health check: GET /api/v1/health; exit 0 when the service says ok.

The endpoint answers 503 when the database is unreachable or its schema is behind this code.
When reads are private (CONVNAS_API_READ=token) it needs a token: the first one of
CONVNAS_API_TOKEN, else of CONVNAS_API_TOKENS_FILE, is sent. Standard library only, so that it
runs in any image that has Python. Usage: convnas-healthcheck [URL]
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000/api/v1/health"
TIMEOUT_SECONDS = 5.0


def first_token() -> str | None:
    """The token this container's server accepts (the same settings the server reads)."""
    token = os.environ.get("CONVNAS_API_TOKEN", "").strip()
    if token:
        return token
    path = os.environ.get("CONVNAS_API_TOKENS_FILE", "").strip()
    if not path:
        return None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()
    return None


def check(url: str) -> tuple[bool, str]:
    """Whether the service at ``url`` is healthy, and one line saying why not."""
    request = urllib.request.Request(url)  # noqa: S310 (an http URL the operator configured)
    if os.environ.get("CONVNAS_API_READ", "open").strip() == "token":
        token = first_token()
        if token:
            request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return False, f"{url}: HTTP {exc.code} {exc.read(500).decode(errors='replace')}"
    except (OSError, ValueError) as exc:
        return False, f"{url}: {exc}"
    if body.get("ok") is not True:
        return False, f"{url}: not ok: {body}"
    return True, "ok"


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else DEFAULT_URL
    ok, why = check(url)
    print(why, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Settings every test shares.

Starlette's TestClient sends ``Host: testserver``; the app answers only to the names it is
reached by (loopback by default: DNS rebinding), so the tests name that host as a deployment
behind a proxy would name its own (Django's test runner does the same for ALLOWED_HOSTS).
Tests of the Host check itself set their own list.
"""

from __future__ import annotations

import pytest

TEST_HOSTS = "testserver,localhost,127.0.0.1,[::1]"


@pytest.fixture(autouse=True)
def _test_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVNAS_ALLOWED_HOSTS", TEST_HOSTS)

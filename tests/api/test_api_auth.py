"""Bearer tokens: mutations need one when the server has any; reads too with read=token."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api import security
from api.settings import ApiSettings
from tests.api.api_helpers import API, make_client
from tests.search.search_helpers import spec_data

TOKEN = "s3cret-token"
GOOD = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def guarded(db_url: str) -> Iterator[TestClient]:
    with make_client(db_url, api_token=TOKEN) as client:
        yield client


def test_mutations_need_the_token(guarded: TestClient) -> None:
    missing = guarded.post(f"{API}/searches", json=spec_data("t"))
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = guarded.post(
        f"{API}/searches", json=spec_data("t"), headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 403
    basic = guarded.post(f"{API}/searches", json=spec_data("t"), headers={"Authorization": TOKEN})
    assert basic.status_code == 401
    ok = guarded.post(f"{API}/searches", json=spec_data("t"), headers=GOOD)
    assert ok.status_code == 201
    sid = ok.json()["id"]
    assert guarded.post(f"{API}/searches/{sid}/cancel").status_code == 401
    assert guarded.delete(f"{API}/searches/{sid}").status_code == 401
    assert guarded.post(f"{API}/searches/{sid}/cancel", headers=GOOD).status_code == 200


def test_reads_are_open_by_default(guarded: TestClient) -> None:
    assert guarded.get(f"{API}/searches").status_code == 200
    assert guarded.get(f"{API}/presets").status_code == 200
    assert guarded.get(f"{API}/health").status_code == 200


def test_private_reads(db_url: str) -> None:
    with make_client(db_url, api_token=TOKEN, api_read="token") as client:
        for path in ("/searches", "/presets", "/health", "/searches/1/trials"):
            assert client.get(API + path).status_code == 401, path
        bad = {"Authorization": "Bearer x"}
        assert client.get(f"{API}/searches", headers=bad).status_code == 403
        assert client.get(f"{API}/searches", headers=GOOD).status_code == 200
        # The document and its readers are reads too (issue 18): the token, or nothing.
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert client.get(path).status_code == 401, path
        assert client.get("/openapi.json", headers=GOOD).json()["info"]["title"] == "convnas"


def test_tokens_file_one_per_line(db_url: str, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# lab tokens\nalpha\n\n  beta  \n")
    with make_client(db_url, api_tokens_file=tokens) as client:
        for token in ("alpha", "beta"):
            got = client.post(
                f"{API}/searches",
                json=spec_data("t"),
                headers={"Authorization": f"Bearer {token}"},
            )
            assert got.status_code == 201, token
        assert client.post(f"{API}/searches", json=spec_data("t")).status_code == 401
        comment = {"Authorization": "Bearer # lab tokens"}
        assert (
            client.post(f"{API}/searches", json=spec_data("t"), headers=comment).status_code == 403
        )


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONVNAS_API_TOKEN", "envtoken")
    monkeypatch.setenv("CONVNAS_API_READ", "token")
    for name in "abc":
        (tmp_path / name).mkdir()
    monkeypatch.setenv("CONVNAS_DATA_ROOTS", f"{tmp_path}/a,{tmp_path}/b:{tmp_path}/c")
    monkeypatch.setenv("CONVNAS_MAX_TRIALS", "7")
    settings = ApiSettings()
    assert settings.tokens() == ["envtoken"] and settings.api_read == "token"
    assert settings.data_roots == [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    assert settings.limits().max_trials == 7


def test_unreadable_tokens_file_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="CONVNAS_API_TOKENS_FILE: cannot read"):
        ApiSettings(database_url="sqlite://", api_tokens_file=tmp_path / "missing")


def test_tokens_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    check = security.TokenCheck(["first", "second", "third"], private_reads=False)
    assert check.accepts("first")
    # Every known token is compared, even after a match: no early exit to time.
    assert [b for _, b in calls] == [b"first", b"second", b"third"]
    assert not check.accepts("firs")

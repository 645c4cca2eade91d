"""Notes on a search and on a trial over HTTP (issue 23), on SQLite and PostgreSQL: set, read
back in every document that shows the search or the trial, clear; the token; every bad note a
422 naming the field; a note written beside a running driver's writes loses nothing of either."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from search import service
from search.records.db import Search, Trial, session_scope
from tests.api.api_helpers import API, PROBLEM, make_client
from tests.search.service_helpers import populate

NOTE = "## Why it wins\n\nThe *feedback* edge (see trial 1).\n\n- rgc\n- lstm\n"
TOKEN = "s3cret-token"


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    return body


def test_a_search_note_round_trips(client: TestClient, engine: Engine) -> None:
    sid = populate(engine)
    url = f"{API}/searches/{sid}/note"
    put = client.put(url, json={"note": NOTE})
    assert put.status_code == 200, put.text
    assert put.json()["id"] == sid and put.json()["note"] == NOTE
    assert client.get(f"{API}/searches/{sid}").json()["note"] == NOTE
    assert client.get(f"{API}/searches/tiny").json()["note"] == NOTE  # by name too
    [listed] = client.get(f"{API}/searches").json()["items"]
    assert listed["note"] == NOTE
    # Why a search ended is its own field, never taken for the note.
    assert listed["reason"] is None

    assert client.put(url, json={"note": "replaced"}).json()["note"] == "replaced"
    for cleared in (None, "", "  \n\t"):
        client.put(url, json={"note": "again"})
        assert client.put(url, json={"note": cleared}).json()["note"] is None, cleared
        assert client.get(f"{API}/searches/{sid}").json()["note"] is None


def test_a_trial_note_round_trips(client: TestClient, engine: Engine) -> None:
    sid = populate(engine)
    url = f"{API}/searches/{sid}/trials/1/note"
    put = client.put(url, json={"note": NOTE})
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["trial"] == 1 and body["search_id"] == sid and body["note"] == NOTE
    assert body["history"], "the whole trial document comes back"
    assert client.get(f"{API}/searches/{sid}/trials/1").json()["note"] == NOTE
    # Only that trial's, and not the search's.
    assert client.get(f"{API}/searches/{sid}/trials/0").json()["note"] is None
    assert client.get(f"{API}/searches/{sid}").json()["note"] is None
    # A leaderboard row carries no note (a page of 10,000 rows would carry 10,000 notes).
    assert all(
        "note" not in row for row in client.get(f"{API}/searches/{sid}/trials").json()["items"]
    )
    assert client.put(url, json={"note": None}).json()["note"] is None
    assert client.get(f"{API}/searches/{sid}/trials/1").json()["note"] is None


def test_a_note_at_the_limit_is_kept_and_one_over_is_refused(
    client: TestClient, engine: Engine
) -> None:
    sid = populate(engine)
    most = "é" * service.MAX_NOTE_CHARS  # characters, not bytes
    assert client.put(f"{API}/searches/{sid}/note", json={"note": most}).json()["note"] == most
    for url in (f"{API}/searches/{sid}/note", f"{API}/searches/{sid}/trials/0/note"):
        body = _problem(client.put(url, json={"note": most + "x"}), 422)
        [problem] = body["errors"]
        assert problem["path"] == "note"
        assert problem["message"] == ("too long: 20,001 characters (limit MAX_NOTE_CHARS = 20,000)")
        assert problem["value"].endswith("... (20,001 characters)")  # echoed, cut
    assert client.get(f"{API}/searches/{sid}").json()["note"] == most  # unchanged


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (b'{"note": "a\\u0000b"}', "note", "must not contain a NUL character"),
        (
            b'{"note": "a\\ud800b"}',
            "note",
            "must be Unicode text (character 2 is a lone surrogate)",
        ),
        (b'{"note": 3}', "note", "Input should be a valid string"),
        (b'{"notes": "x"}', "note", "Field required"),  # a misspelt field clears nothing
        (b"{}", "note", "Field required"),
        (b'{"note": "x"', "12", "JSON decode error"),  # at character 12
    ],
)
def test_bad_notes_are_a_422_naming_the_field(
    client: TestClient, engine: Engine, body: bytes, path: str, message: str
) -> None:
    sid = populate(engine)
    client.put(f"{API}/searches/{sid}/note", json={"note": "kept"})
    sent = client.put(
        f"{API}/searches/{sid}/note", content=body, headers={"Content-Type": "application/json"}
    )
    problems = _problem(sent, 422)["errors"]
    assert {"path": path, "message": message} in [
        {"path": p["path"], "message": p["message"]} for p in problems
    ], problems
    assert client.get(f"{API}/searches/{sid}").json()["note"] == "kept"


def test_unknown_searches_and_trials_are_404(client: TestClient, engine: Engine) -> None:
    sid = populate(engine)
    cases = {
        f"{API}/searches/999/note": "no search with id 999",
        f"{API}/searches/nope/note": "no search with id or name 'nope'",
        f"{API}/searches/{sid}/trials/99/note": f"search {sid} has no trial number 99",
    }
    for url, detail in cases.items():
        assert _problem(client.put(url, json={"note": "x"}), 404)["detail"] == detail
    too_big = client.put(f"{API}/searches/{sid}/trials/{2**31}/note", json={"note": "x"})
    assert _problem(too_big, 422)["errors"][0]["path"] == "number"


def test_notes_need_the_token_when_the_server_has_one(db_url: str, engine: Engine) -> None:
    sid = populate(engine)
    good = {"Authorization": f"Bearer {TOKEN}"}
    with make_client(db_url, api_token=TOKEN) as guarded:
        for url in (f"{API}/searches/{sid}/note", f"{API}/searches/{sid}/trials/1/note"):
            missing = _problem(guarded.put(url, json={"note": "x"}), 401)
            assert "Bearer" in missing["detail"]
            wrong = {"Authorization": "Bearer nope"}
            _problem(guarded.put(url, json={"note": "x"}, headers=wrong), 403)
            assert guarded.put(url, json={"note": "x"}, headers=good).json()["note"] == "x"
        # Reading it stays open (reads are, unless CONVNAS_API_READ=token).
        assert guarded.get(f"{API}/searches/{sid}").json()["note"] == "x"


def test_a_note_beside_a_running_driver_loses_nothing(client: TestClient, engine: Engine) -> None:
    """A note is its own column's UPDATE: what the driver wrote to the same rows stays, and a
    row the driver loaded before the note was written (as its ledger keeps them), then
    changed, writes back only what it changed."""
    sid = populate(engine)
    with session_scope(engine) as s:
        s.execute(update(Search).where(Search.id == sid).values(status="running"))
        row = s.scalars(select(Trial).where(Trial.search_id == sid, Trial.number == 2)).one()
    before = (row.status, row.best_val_acc, row.error, row.epochs)
    assert client.put(f"{API}/searches/{sid}/trials/2/note", json={"note": "watch"}).is_success
    assert client.put(f"{API}/searches/{sid}/note", json={"note": "running"}).is_success
    with session_scope(engine) as s:
        s.add(row)  # the driver's row again, loaded before the note: it records an epoch
        row.epochs += 1
    detail = client.get(f"{API}/searches/{sid}/trials/2").json()
    assert detail["note"] == "watch"
    got = (detail["status"], detail["val_acc"], detail["error"], detail["epochs"])
    assert got == (*before[:3], before[3] + 1)
    search = client.get(f"{API}/searches/{sid}").json()
    assert search["status"] == "running" and search["note"] == "running"


def test_the_routes_are_documented_with_their_problems(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, returned in (
        ("/api/v1/searches/{ref}/note", "SearchOut"),
        ("/api/v1/searches/{ref}/trials/{number}/note", "TrialDetail"),
    ):
        put = paths[path]["put"]
        ok = put["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ok.endswith("/" + returned)
        for status in ("401", "403", "404", "422"):
            assert PROBLEM in put["responses"][status]["content"], (path, status)
        body = put["requestBody"]["content"]["application/json"]
        assert "markdown" in body["examples"]

"""The leaderboard, the Pareto front, one trial, export and weights over HTTP."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from search.records.db import Trial, arch_cell_kinds, encode_cells, session_scope
from tests.search.service_helpers import populate

API = "/api/v1"


@pytest.fixture
def sid(engine: Engine) -> int:
    search_id = populate(engine)
    with session_scope(engine) as s:  # populate writes rows directly; the ledger sets these
        for trial in s.scalars(select(Trial).where(Trial.search_id == search_id)):
            trial.cell_kinds = encode_cells(arch_cell_kinds(trial.arch))
            trial.pareto = trial.number == 1
    return search_id


def test_leaderboard_defaults_best_first(client: TestClient, sid: int) -> None:
    page = client.get(f"{API}/searches/{sid}/trials").json()
    assert page["sort"] == "-val_acc" and page["limit"] == 50 and page["offset"] == 0
    assert page["total"] == 2  # completed trials only, by default
    assert [t["trial"] for t in page["items"]] == [1, 0]
    assert [t["rank"] for t in page["items"]] == [1, 2]


def test_leaderboard_query_mirrors_the_cli(client: TestClient, sid: int) -> None:
    url = f"{API}/searches/{sid}/trials"
    every = client.get(url, params={"status": "all"}).json()
    assert every["total"] == 3
    worst_first = client.get(url, params={"sort": "+val_acc"}).json()
    assert [t["trial"] for t in worst_first["items"]] == [0, 1]
    paged = client.get(url, params={"limit": 1, "offset": 1}).json()
    assert [t["trial"] for t in paged["items"]] == [0] and paged["total"] == 2
    timedecay = client.get(url, params={"cell_kind": "timedecay", "status": "all"}).json()
    assert timedecay["total"] == 3
    assert client.get(url, params={"cell_kind": "lstm"}).json()["total"] == 0
    smallest = min(t["params"] for t in every["items"])
    capped = client.get(url, params={"params_max": smallest, "status": "all"}).json()
    assert capped["total"] >= 1 and all(t["params"] <= smallest for t in capped["items"])


def test_bad_query_fields_are_named(client: TestClient, sid: int) -> None:
    response = client.get(f"{API}/searches/{sid}/trials", params={"sort": "bogus"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    [problem] = response.json()["errors"]
    assert problem["path"] == "sort" and problem["value"] == "bogus"
    bad = client.get(f"{API}/searches/{sid}/trials", params={"limit": 0, "cell_kind": "x"})
    assert bad.status_code == 422
    paths = {p["path"] for p in bad.json()["errors"]}
    assert "limit" in paths


def test_csv_streams_every_matching_row(client: TestClient, sid: int) -> None:
    response = client.get(
        f"{API}/searches/{sid}/trials", params={"format": "csv", "status": "all", "limit": 1}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["trial"] for r in rows] == ["1", "0", "2"]  # limit is ignored for csv
    assert rows[0]["rank"] == "1" and rows[2]["error"] == "RuntimeError: boom"
    missing = client.get(f"{API}/searches/999/trials", params={"format": "csv"})
    assert missing.status_code == 404  # checked before streaming starts
    assert missing.headers["content-type"] == "application/problem+json"


def test_pareto_and_one_trial(client: TestClient, sid: int) -> None:
    front = client.get(f"{API}/searches/{sid}/pareto").json()
    assert [t["trial"] for t in front["items"]] == [1]
    detail = client.get(f"{API}/searches/{sid}/trials/1").json()
    assert detail["trial"] == 1 and detail["val_acc"] == 0.9
    assert [e["epoch"] for e in detail["history"]] == [1, 2]
    assert detail["history"][1]["val_acc_per_step"] == [0.1, 0.9]
    assert detail["arch"]["layers"] and detail["has_weights"] is False
    assert client.get(f"{API}/searches/{sid}/trials/7").status_code == 404


def test_export_is_the_document_text(client: TestClient, sid: int) -> None:
    as_yaml = client.get(f"{API}/searches/{sid}/export")
    assert as_yaml.status_code == 200
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    document = yaml.safe_load(as_yaml.text)
    assert document["provenance"]["trial"]["number"] == 1  # the best by default
    as_json = client.get(f"{API}/searches/{sid}/export", params={"format": "json", "trial": 0})
    assert as_json.headers["content-type"].startswith("application/json")
    assert json.loads(as_json.text)["provenance"]["trial"]["number"] == 0
    bad = client.get(f"{API}/searches/{sid}/export", params={"format": "xml"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "format"


def test_weights_file_or_404(client: TestClient, engine: Engine, sid: int, tmp_path: Path) -> None:
    url = f"{API}/searches/{sid}/export/weights"
    none = client.get(url)
    assert none.status_code == 404 and "kept no weights" in none.json()["detail"]
    weights = tmp_path / "ckpt" / "model.pt"
    weights.parent.mkdir()
    weights.write_bytes(b"\x00weights\xff")
    with session_scope(engine) as s:
        trial = s.scalars(select(Trial).where(Trial.search_id == sid, Trial.number == 1)).one()
        trial.checkpoint = str(weights.parent)
    got = client.get(url)
    assert got.status_code == 200 and got.content == b"\x00weights\xff"
    assert 'filename="model.pt"' in got.headers["content-disposition"]
    assert client.get(url, params={"trial": 0}).status_code == 404

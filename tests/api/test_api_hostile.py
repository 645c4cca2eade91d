"""Hostile specs against the server (issue 18): responses stay small, a request's work stays
bounded, and values that no two databases store alike are refused by name, on both backends.
The inputs are files of tests/hostile/documents, or made here when they are large."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from search.service.policy import DEFAULT_MAX_DATASET_PIXELS, Limits, dataset_size_problems
from space.document import MAX_SPEC_NODES
from space.errors import RENDER_LIMIT, VALUE_LIMIT
from space.spec import load_spec
from tests.api.api_helpers import API, PROBLEM, make_client
from tests.api.test_serve import serving
from tests.search.search_helpers import spec_data

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "hostile" / "documents"
YAML = {"Content-Type": "application/yaml"}
SMALL = 64 * 1024  # bytes: what any answer below must stay under


def amplification() -> str:
    """203 kB: one 200,000-character string aliased 999 times (a 200 MB response before)."""
    aliases = ", ".join(["*x"] * 999)
    return f"x: &x '{'a' * 200_000}'\nname: amp\nlayers: [{aliases}]\n"


def big_choice() -> str:
    """320 kB: 64 layers of 1,000 channel choices each (about 1 s of CPU per request before)."""
    data = spec_data("wide", single=True)
    choices = list(range(1, 1001))
    data["layers"] = [
        {"name": f"l{i}", "channels": {"choice": choices}, "kernel": 3} for i in range(64)
    ]
    return json.dumps(data)


def _both(client: TestClient, content: str | bytes) -> tuple[Any, Any]:
    """The answers of /spaces/validate and POST /searches to one YAML body."""
    checked = client.post(f"{API}/spaces/validate", content=content, headers=YAML)
    submitted = client.post(f"{API}/searches", content=content, headers=YAML)
    assert checked.status_code == 200 and checked.json()["ok"] is False, checked.text
    assert submitted.status_code == 422 and submitted.headers["content-type"] == PROBLEM
    return checked, submitted


def _refused(client: TestClient, content: str | bytes, fragment: str) -> dict[str, Any]:
    """Both routes refuse ``content``, small, the first problem holding ``fragment``; nothing is
    stored. The 422's body."""
    checked, submitted = _both(client, content)
    for response in (checked, submitted):
        assert len(response.content) < SMALL
        assert fragment in str(response.json()["errors"][0]), response.text
    assert client.get(f"{API}/searches").json()["total"] == 0
    body: dict[str, Any] = submitted.json()
    return body


def test_alias_amplification_gets_a_small_answer(client: TestClient) -> None:
    body = _refused(client, amplification(), "limit MAX_EXPANDED_TEXT")
    assert body["errors"][0]["path"].startswith("layers.")


def test_alias_amplification_leaves_the_server_memory_bounded(tmp_path: Path) -> None:
    """``convnas serve`` as a process: four amplification requests at once (1.3 GB of server
    memory and 200 MB answers before) move its peak RSS by a few MB."""
    with serving(tmp_path, "--no-runner") as (url, proc, _):
        status = Path(f"/proc/{proc.pid}/status")

        def peak_kb() -> int:
            line = next(ln for ln in status.read_text().splitlines() if ln.startswith("VmHWM"))
            return int(line.split()[1])

        def post(_: int) -> httpx.Response:
            return httpx.post(
                f"{url}{API}/spaces/validate", content=amplification(), headers=YAML, timeout=60
            )

        before = peak_kb()
        with ThreadPoolExecutor(4) as pool:
            answers = [post(0), *pool.map(post, range(4))]  # one alone, then four at once
        grown_mb = (peak_kb() - before) / 1024
    for answer in answers:
        assert answer.status_code == 200 and len(answer.content) < SMALL
        assert "MAX_EXPANDED_TEXT" in answer.text
    assert grown_mb < 100, f"peak RSS grew {grown_mb:.0f} MB"


def test_huge_integer_is_a_named_422(client: TestClient) -> None:
    text = (CORPUS / "huge_integer_channels.yaml").read_text()
    body = _refused(client, text, "integer out of range")
    (problem,) = body["errors"]
    assert problem["path"] == "layers.0.channels" and problem["line"] == 10
    assert len(str(problem["value"])) <= VALUE_LIMIT  # 401 digits, shown in part


def test_nul_in_a_string_is_a_named_422_on_every_backend(client: TestClient) -> None:
    text = (CORPUS / "nul_in_description.yaml").read_text()
    body = _refused(client, text, "must not contain a NUL character")
    assert [p["path"] for p in body["errors"]] == ["description"]
    data = spec_data("nul")
    data["cells"] = {"a\x00b": {"kind": "gru"}}  # in a key too, sent as JSON
    response = client.post(f"{API}/searches", json=data)
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == "key must not contain a NUL character"


def test_a_huge_choice_space_is_refused_by_size(client: TestClient) -> None:
    text = big_choice()
    assert len(text) > 300_000
    started = time.perf_counter()
    _refused(client, text, f"more than {MAX_SPEC_NODES:,} nodes")  # two requests
    assert time.perf_counter() - started < 4.0  # about 0.2 s each; 1 s before


def test_a_huge_generated_dataset_is_refused(db_url: str) -> None:
    text = (CORPUS / "huge_dataset.yaml").read_text()
    with make_client(db_url) as client:
        body = _refused(client, text, "max_dataset_pixels")
        (problem,) = body["errors"]
        assert problem["path"] == "dataset" and problem["value"] == 10**6 * 1024 * 1024
        assert "1,000,000 images of 1024x1024x1" in problem["message"]
    with make_client(db_url, max_dataset_pixels=2 * 10**12) as roomy:
        assert roomy.post(f"{API}/searches", content=text, headers=YAML).status_code == 201


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_example_fits_the_default_dataset_limit(path: Path) -> None:
    spec = load_spec(path)
    roomy = Limits(10**9, 10**9, 10**9, 10**18, 10**18, 10**18)
    assert roomy.max_dataset_pixels == DEFAULT_MAX_DATASET_PIXELS
    assert dataset_size_problems(spec, roomy) == []
    tight = Limits(10**9, 10**9, 10**9, 10**18, 10**18, 10**18, max_dataset_pixels=1)
    if spec.dataset.name != "imagefolder":  # a whole folder: its size is known once read
        assert [p.path for p in dataset_size_problems(spec, tight)] == ["dataset"]


def test_a_flood_of_problems_is_listed_in_part_and_counted(client: TestClient) -> None:
    text = "name: x\n" + "".join(f"k{i}: 0\n" for i in range(300))
    checked, submitted = _both(client, text)
    for errors in (checked.json()["errors"], submitted.json()["errors"]):
        assert len(errors) == RENDER_LIMIT + 1
        assert errors[-1]["path"] == "" and "more problems (not listed)" in errors[-1]["message"]
    assert submitted.json()["detail"].startswith("the request has 30")  # every one counted


def test_a_long_value_is_echoed_in_part(client: TestClient) -> None:
    text = f"name: x\nlayers: ['{'a' * 300_000}']\n"
    for response in _both(client, text):
        assert len(response.content) < SMALL
        [echoed] = [p["value"] for p in response.json()["errors"] if p["path"] == "layers.0"]
        assert len(echoed) <= VALUE_LIMIT and echoed.endswith("(300,000 characters)")

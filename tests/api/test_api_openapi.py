"""The OpenAPI document (with examples) and a light web process (no torch, no Ray)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from space.arch import CELL_KINDS
from space.status import SearchStatus
from tests.api.api_helpers import API

ROOT = Path(__file__).resolve().parents[2]


def test_docs_and_schema(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert f"{API}/searches" in paths and f"{API}/health" in paths
    for path, operations in paths.items():
        for method, operation in operations.items():
            ok = operation["responses"].get("200") or operation["responses"].get("201")
            assert ok and ok.get("content"), f"{method} {path} documents no response"
    body = paths[f"{API}/searches"]["post"]["requestBody"]["content"]
    assert body["application/json"]["examples"]["tiny"]["value"]["name"] == "tiny"
    assert "name: tiny" in body["application/yaml"]["examples"]["tiny"]["value"]
    assert schema["components"]["schemas"]["SearchSpec"]["properties"]["layers"]
    problem = schema["components"]["schemas"]["ProblemDetails"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])


def test_the_documented_examples_are_accepted(client: TestClient) -> None:
    body = client.get("/openapi.json").json()["paths"][f"{API}/searches"]["post"]["requestBody"]
    for media, content in body["content"].items():
        example = content["examples"]["tiny"]["value"]
        data = json.dumps(example) if media == "application/json" else example
        response = client.post(f"{API}/searches", content=data, headers={"Content-Type": media})
        assert response.status_code == 201, (media, response.text)


SCRIPT = """
import sys
from fastapi.testclient import TestClient
from api.app import create_app
from api.settings import ApiSettings
from tests.search.search_helpers import spec_data
with TestClient(create_app(ApiSettings(database_url=sys.argv[1]))) as c:
    sid = c.post("/api/v1/searches", json=spec_data("light")).json()["id"]
    for path in ("", f"/{sid}", f"/{sid}/trials", f"/{sid}/trials?format=csv", f"/{sid}/pareto"):
        assert c.get("/api/v1/searches" + path).status_code == 200, path
    assert c.post("/api/v1/spaces/validate", json=spec_data("light")).json()["ok"]
    assert c.get("/api/v1/presets").status_code == 200
    assert c.get("/api/v1/health").status_code == 200
    assert c.post(f"/api/v1/searches/{sid}/cancel").status_code == 200
print(sorted(m for m in ("torch", "ray", "workers.loop", "search.run.driver") if m in sys.modules))
"""


def test_the_web_process_loads_neither_torch_nor_ray(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'light.db'}"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_document_describes_what_the_server_sends(client: TestClient) -> None:
    """Every error is a problem document (before: FastAPI's HTTPValidationError on every 422),
    enums and page bounds are documented, and what the middleware answers is listed."""
    schema = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(schema)
    paths = schema["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "400" in responses, (method, path)  # a Host it is not reached by
            if method in ("post", "delete"):
                assert {"403", "408", "413", "415"} <= set(responses), (method, path)
            for status, response in responses.items():
                if status[0] not in "45" or (path, status) == (f"{API}/health", "503"):
                    continue
                problem = {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
                assert response["content"] == {"application/problem+json": problem}, (
                    method, path, status,
                )  # fmt: skip
    params = {p["name"]: p["schema"] for p in paths[f"{API}/searches"]["get"]["parameters"]}
    assert params["status"]["enum"] == [s.value for s in SearchStatus]
    assert params["limit"]["minimum"] == 1 and params["offset"]["minimum"] == 0
    trials = paths[f"{API}/searches/{{ref}}/trials"]["get"]["parameters"]
    params = {p["name"]: p["schema"] for p in trials}
    assert params["cell_kind"]["enum"] == list(CELL_KINDS)
    assert re.fullmatch(params["status"]["pattern"], "completed,failed")
    assert not re.fullmatch(params["status"]["pattern"], "bogus")
    assert params["limit"]["minimum"] == 1 and params["params_min"]["minimum"] == 0
    created = paths[f"{API}/searches"]["post"]["responses"]["201"]
    assert "Location" in created["headers"]

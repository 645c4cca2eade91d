"""The OpenAPI document (with examples) and a light web process (no torch, no Ray)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from api_helpers import API
from fastapi.testclient import TestClient

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
sys.path.insert(0, "tests/search")
from search_helpers import spec_data
with TestClient(create_app(ApiSettings(database_url=sys.argv[1]))) as c:
    sid = c.post("/api/v1/searches", json=spec_data("light")).json()["id"]
    for path in ("", f"/{sid}", f"/{sid}/trials", f"/{sid}/trials?format=csv", f"/{sid}/pareto"):
        assert c.get("/api/v1/searches" + path).status_code == 200, path
    assert c.post("/api/v1/spaces/validate", json=spec_data("light")).json()["ok"]
    assert c.get("/api/v1/presets").status_code == 200
    assert c.get("/api/v1/health").status_code == 200
    assert c.post(f"/api/v1/searches/{sid}/cancel").status_code == 200
print(sorted(m for m in ("torch", "ray", "workers.loop", "search.driver") if m in sys.modules))
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

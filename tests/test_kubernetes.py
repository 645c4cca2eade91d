"""docker/kubernetes/ (issue 20): every manifest validates against the Kubernetes schemas
(kubernetes-validate, offline), the RayCluster's pod templates too (KubeRay's CRD is not in
those schemas: each template is checked as a PodTemplate), and the manifests agree with each
other and with the images: one secret, the same shared paths, the same Ray version, token auth
in every Ray pod, a head that offers nothing, GPUs requested where they are used."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "docker" / "kubernetes"
VERSION = "1.30.0"
# setting -> (its path in every pod, the claim mounted there)
SHARED = {
    "CONVNAS_RUNS_DIR": ("/var/lib/convnas/runs", "convnas-runs"),
    "CONVNAS_DATA_DIR": ("/var/lib/convnas/data", "convnas-data"),
}


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                found.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


DOCS = documents()
CORE = [(name, doc) for name, doc in DOCS if doc["kind"] != "RayCluster"]
(RAYCLUSTER,) = [doc for _, doc in DOCS if doc["kind"] == "RayCluster"]


def ray_groups() -> list[tuple[str, dict[str, Any]]]:
    spec = RAYCLUSTER["spec"]
    groups = [("head", spec["headGroupSpec"])]
    return groups + [(g["groupName"], g) for g in spec["workerGroupSpecs"]]


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    """Every pod spec the manifests make: Deployments', StatefulSets' and the Ray groups'."""
    pods = [
        (name, doc["spec"]["template"]["spec"])
        for name, doc in CORE
        if "template" in doc.get("spec", {})
    ]
    return pods + [(f"ray:{name}", group["template"]["spec"]) for name, group in ray_groups()]


@pytest.mark.parametrize(("name", "doc"), CORE, ids=[name for name, _ in CORE])
def test_every_manifest_validates_against_the_kubernetes_schemas(
    name: str, doc: dict[str, Any]
) -> None:
    kubernetes_validate.validate(doc, VERSION, strict=True)


@pytest.mark.parametrize(("group", "spec"), ray_groups(), ids=[g for g, _ in ray_groups()])
def test_each_ray_pod_template_validates_as_a_pod_template(
    group: str, spec: dict[str, Any]
) -> None:
    template = {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": f"convnas-{group}"},
        "template": spec["template"],
    }
    kubernetes_validate.validate(template, VERSION, strict=True)
    assert all(isinstance(v, str) for v in spec["rayStartParams"].values())  # KubeRay's type


def test_a_broken_manifest_is_refused() -> None:
    doc = next(d for _, d in CORE if d["kind"] == "Deployment")
    broken = {**doc, "spec": {**doc["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)


def test_the_ray_cluster_matches_the_images_and_keeps_trials_off_the_head() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text(encoding="utf-8")
    ray = re.search(r"^ARG RAY_VERSION=(\S+)$", dockerfile, re.M)
    assert ray and RAYCLUSTER["spec"]["rayVersion"] == ray.group(1)
    head = RAYCLUSTER["spec"]["headGroupSpec"]["rayStartParams"]
    assert head["num-cpus"] == "0" and head["num-gpus"] == "0"
    groups = dict(ray_groups())
    (gpu_container,) = groups["gpu"]["template"]["spec"]["containers"]
    assert gpu_container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu_container["image"].endswith(":gpu")
    for name, group in groups.items():
        (container,) = group["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token", name
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "ray-auth-token"
        store = int(group["rayStartParams"]["object-store-memory"])
        shm = next(v for v in group["template"]["spec"]["volumes"] if v["name"] == "dshm")
        assert store < int(shm["emptyDir"]["sizeLimit"].removesuffix("Gi")) * 2**30, name
    head_env = {
        e["name"]: e.get("value")
        for e in groups["head"]["template"]["spec"]["containers"][0]["env"]
    }
    assert head_env["RAY_health_check_period_ms"] == "2000"  # a hung node: 10-20 s


def test_every_pod_mounts_the_shared_paths_and_uses_secrets_that_exist() -> None:
    (secret,) = [doc for name, doc in DOCS if doc["kind"] == "Secret"]
    keys = set(secret["stringData"])
    for name, pod in pod_specs():
        claims = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in pod.get("volumes", [])
            if "persistentVolumeClaim" in v
        }
        for container in pod["containers"]:
            env = {e["name"]: e for e in container.get("env", [])}
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            for setting, (path, claim) in SHARED.items():
                if setting in env:
                    assert env[setting]["value"] == path and claims[mounts[path]] == claim, name
            for e in env.values():
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "convnas" and ref["key"] in keys, name
            assert "CONVNAS_DATABASE_URL" not in env, name  # the URL is a file from the secret
        for volume in pod.get("volumes", []):
            items = volume.get("secret", {}).get("items", [])
            assert all(item["key"] in keys for item in items), name


def test_the_runner_reaches_the_ray_head_service_and_the_api_is_probed() -> None:
    by_kind = {(doc["kind"], doc["metadata"]["name"]): doc for _, doc in DOCS}
    runner = by_kind[("Deployment", "convnas-runner")]["spec"]["template"]["spec"]["containers"][0]
    address = {e["name"]: e.get("value") for e in runner["env"]}["CONVNAS_RAY_ADDRESS"]
    # KubeRay names the head's Service CLUSTER-head-svc; Ray Client listens on 10001.
    assert address == f"ray://{RAYCLUSTER['metadata']['name']}-head-svc:10001"
    api = by_kind[("Deployment", "convnas-api")]["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert "livenessProbe" in api and "resources" in api
    for name, pod in pod_specs():
        for container in pod["containers"]:
            assert "requests" in container["resources"], name

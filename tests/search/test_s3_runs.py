"""``s3://`` runs locations (issue 20), against a local S3 server (moto) this module starts:
the location is parsed and refused as a setting is, proven writable before a run, and a search
whose checkpoints live in the bucket retries from them, exports and serves its weights, and is
deleted with them. Nothing leaves loopback."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from api.cli import app
from search.records.db import Search, Trial, session_scope
from search.records.lifecycle import create_search
from search.records.storage import (
    RunsDirError,
    RunsLocation,
    find_weights,
    runs_location,
    search_folder,
)
from search.run.preflight import check_runs_dir
from space.spec import spec_from_data
from tests.api.api_helpers import API, make_client
from tests.search.search_helpers import spec_data
from tests.search.service_helpers import populate

moto_server = pytest.importorskip("moto.server")
pafs = pytest.importorskip("pyarrow.fs")

runner = CliRunner()
BUCKET = "convnas-test"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """A moto S3 server on loopback with one bucket; the AWS environment points at it (as an
    operator's would, through AWS_ENDPOINT_URL) for the module. Yields the endpoint."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in [*AWS_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update({**AWS_ENV, "AWS_ENDPOINT_URL": endpoint})
    store = pafs.S3FileSystem(endpoint_override=endpoint, allow_bucket_creation=True)
    store.create_dir(BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: where the weights live does not depend on the database (both backends store
    the same strings), and each dead-endpoint case waits out the AWS client's retries."""
    return f"sqlite:///{tmp_path / 'convnas.db'}"


def bucket() -> Any:
    """The test bucket's filesystem (from the environment the fixture set)."""
    store, _ = pafs.FileSystem.from_uri(f"s3://{BUCKET}")
    return store


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --------------------------------------------------------------------------------------------
# The location: parsed once, refused with the field and the value
# --------------------------------------------------------------------------------------------


def test_a_runs_location_is_a_folder_or_an_s3_uri(tmp_path: Path) -> None:
    assert runs_location(tmp_path / "runs") == RunsLocation(None, str(tmp_path / "runs"))
    assert runs_location(f"file://{tmp_path}/runs").uri == str(tmp_path / "runs")
    remote = runs_location("s3://lab-runs/convnas/?endpoint_override=minio:9000&scheme=http")
    assert (remote.scheme, remote.path) == ("s3", "lab-runs/convnas")
    child = search_folder(remote, 7)
    assert child.uri == "s3://lab-runs/convnas/search-7?endpoint_override=minio:9000&scheme=http"
    # Tune reports a checkpoint's path without the scheme; the record keeps the store's options.
    assert child.at("lab-runs/convnas/search-7/run-1/ckpt").uri.startswith("s3://lab-runs/")
    assert search_folder(runs_location(tmp_path), 7).uri == str(tmp_path / "search-7")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("gs://lab-runs/x", "gs:// is not a runs location"),
        ("hdfs://namenode/x", "hdfs:// is not a runs location"),
        ("s3:///x", "names no bucket"),
        ("s3://lab-runs/x?secret_key=hunter2", "credentials in the URI"),
        ("s3://AKIA:hunter2@lab-runs/x", "credentials in the URI"),
        ("gs://AKIA:hunter2@lab-runs/x", "credentials in the URI"),
    ],
)
def test_an_unusable_runs_location_is_refused_naming_it(value: str, says: str) -> None:
    with pytest.raises(RunsDirError, match="runs_dir: ") as caught:
        runs_location(value)
    assert says in str(caught.value)
    assert "hunter2" not in str(caught.value)  # a secret is never echoed


def test_a_runner_refuses_to_start_on_an_s3_location_it_cannot_write(s3: str, db_url: str) -> None:
    missing = "s3://no-such-bucket/runs"
    got = runner.invoke(app, ["runner", "--db", db_url, "--runs-dir", missing])
    assert got.exit_code != 0
    assert f"runs_dir: cannot write to {missing}" in got.output, got.output
    started = time.monotonic()
    dead = f"s3://{BUCKET}/runs?endpoint_override=127.0.0.1:{closed_port()}&scheme=http"
    with pytest.raises(RunsDirError, match="cannot write to s3://convnas-test/runs"):
        check_runs_dir(dead)
    assert time.monotonic() - started < 30  # a dead endpoint is refused, not waited on forever


def test_a_writable_bucket_passes_the_probe_and_keeps_nothing_of_it(s3: str) -> None:
    checked = check_runs_dir(f"s3://{BUCKET}/probe-test")
    assert checked.uri == f"s3://{BUCKET}/probe-test"
    left = bucket().get_file_info(pafs.FileSelector(f"{BUCKET}/probe-test", allow_not_found=True))
    assert [f.base_name for f in left if f.type == pafs.FileType.File] == []


# --------------------------------------------------------------------------------------------
# Weights kept in the bucket: export, download, delete (no Ray)
# --------------------------------------------------------------------------------------------


def _stored_trial(engine: Engine, checkpoint: str, run_dir: str | None = None) -> int:
    search_id = populate(engine, name="in_s3")
    with session_scope(engine) as s:
        s.execute(update(Search).where(Search.id == search_id).values(run_dir=run_dir))
        s.execute(update(Trial).where(Trial.search_id == search_id).values(checkpoint=checkpoint))
    return search_id


def _upload(key: str, data: bytes) -> None:
    with bucket().open_output_stream(f"{BUCKET}/{key}") as out:
        out.write(data)


def test_weights_in_the_bucket_export_download_and_go_with_the_search(
    s3: str, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    weights = os.urandom(3 << 20)  # several of the copy's blocks
    folder = f"runs/search-{time.monotonic_ns()}"
    checkpoint = f"{folder}/run-1/trial_0/checkpoint_000002"
    _upload(f"{checkpoint}/weights.pt", weights)
    _upload(f"{checkpoint}/resume.pt", b"not the best epoch")
    _upload(f"{checkpoint}/preprocessing.json", json.dumps({"channels": 1}).encode())
    search_id = _stored_trial(engine, f"s3://{BUCKET}/{checkpoint}")
    found = find_weights(f"s3://{BUCKET}/{checkpoint}")
    assert found is not None and found.name == "weights.pt" and found.size == len(weights)

    out = tmp_path / "best.yaml"
    got = runner.invoke(
        app, ["export", str(search_id), "--weights", "-o", str(out), "--db", db_url]
    )
    assert got.exit_code == 0, got.output
    copied = tmp_path / "best.weights.pt"
    assert copied.read_bytes() == weights
    assert hashlib.sha256(weights).hexdigest() in out.read_text()
    assert not list(tmp_path.glob("*.partial"))

    with make_client(db_url) as client:
        answer = client.get(f"{API}/searches/{search_id}/export/weights")
        assert answer.status_code == 200, answer.text
        assert answer.content == weights
        assert answer.headers["content-length"] == str(len(weights))
        assert 'filename="weights.pt"' in answer.headers["content-disposition"]
        # The trial page's flag reads the same store.
        detail = client.get(f"{API}/searches/{search_id}/trials/0").json()
        assert detail["has_weights"] is True


def test_a_store_that_does_not_answer_is_a_503_problem_not_a_500(
    s3: str, engine: Engine, db_url: str
) -> None:
    dead = f"?endpoint_override=127.0.0.1:{closed_port()}&scheme=http"
    search_id = _stored_trial(engine, f"s3://{BUCKET}/runs/x/checkpoint_000001{dead}")
    with make_client(db_url) as client:
        answer = client.get(f"{API}/searches/{search_id}/export/weights")
        detail = client.get(f"{API}/searches/{search_id}/trials/0")
    assert detail.status_code == 200 and detail.json()["has_weights"] is False, detail.text
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "runs store" in answer.json()["detail"] and "127.0.0.1" not in answer.text


def test_delete_removes_the_search_folder_from_the_bucket(
    s3: str, engine: Engine, db_url: str
) -> None:
    root = runs_location(f"s3://{BUCKET}/deletes")
    placeholder = _stored_trial(engine, "")
    folder = search_folder(root, placeholder)
    other = search_folder(root, placeholder + 1000)
    _upload(f"{folder.path.split('/', 1)[1]}/run-1/ckpt/weights.pt", b"w" * 64)
    _upload(f"{other.path.split('/', 1)[1]}/run-1/ckpt/weights.pt", b"k" * 64)
    with session_scope(engine) as s:
        s.execute(update(Search).where(Search.id == placeholder).values(run_dir=folder.uri))
    with make_client(db_url) as client:
        answer = client.delete(f"{API}/searches/{placeholder}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["message"] == f"search {placeholder} deleted"
    gone = bucket().get_file_info(f"{folder.path}/run-1/ckpt/weights.pt")
    kept = bucket().get_file_info(f"{other.path}/run-1/ckpt/weights.pt")
    assert gone.type == pafs.FileType.NotFound and kept.type == pafs.FileType.File


# --------------------------------------------------------------------------------------------
# A real search with its runs in the bucket (local Ray)
# --------------------------------------------------------------------------------------------


def dies_during_epoch_2_once(config: dict[str, Any]) -> None:
    """workers.trainable.train_arch, whose first attempt dies (as a lost node's worker would)
    while training epoch 2, well after epoch 1's checkpoint went to the bucket; the retry
    writes which epoch it restored from."""
    from ray import tune

    from workers.resume import load_resume
    from workers.trainable import _tune_report, run_trial

    config = dict(config)
    marks = Path(config.pop("marker_dir"))
    arch = json.dumps(config["arch"], sort_keys=True).encode()
    marker = marks / hashlib.sha256(arch).hexdigest()

    def report(metrics: dict[str, Any], folder: str | None) -> None:
        if metrics.get("epoch") == 2 and not marker.exists():
            marker.write_text("died")
            os._exit(1)
        _tune_report(metrics, folder)
        if metrics.get("epoch") == 1:
            time.sleep(2)  # the driver registers epoch 1's checkpoint before the worker dies

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        run_trial(config, report)
        return
    with checkpoint.as_directory() as restored:
        state = load_resume(restored)
        (marks / "restored").write_text(str(state.epoch if state else None))
        run_trial(config, report, restored)


@pytest.mark.ray
@pytest.mark.slow
def test_a_search_on_s3_retries_from_its_bucket_checkpoint_and_exports_usable_weights(
    s3: str, engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ray = pytest.importorskip("ray")
    torch = pytest.importorskip("torch")
    from search.run.driver import run_search

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("CONVNAS_THREADS", "1")
    data = spec_data(trials=1, concurrency=1, epochs=3, scheduler="fifo", limit=200)
    data["search"]["retries"] = 1
    search_id = create_search(engine, spec_from_data(data))
    (tmp_path / "marks").mkdir()
    runs = f"s3://{BUCKET}/searches"
    outcome = run_search(
        engine,
        search_id,
        runs_dir=runs,
        trainable=dies_during_epoch_2_once,
        num_cpus=2,
        trial_config={"checkpoint": True, "marker_dir": str(tmp_path / "marks")},
    )
    assert outcome.status == "succeeded" and outcome.finished == 1, outcome
    assert (tmp_path / "marks" / "restored").read_text() == "1"  # from the bucket, epoch 1
    with session_scope(engine) as s:
        search = s.get(Search, search_id)
        assert search is not None and search.run_dir == f"{runs}/search-{search_id}"
        row = s.scalars(select(Trial).where(Trial.search_id == search_id)).one()
        assert row.status == "completed" and row.epochs == 3
        assert [a["outcome"] for a in row.attempts or []] == ["retried", "completed"]
        assert (row.attempts or [])[0]["epochs"] == 1
        checkpoint = str(row.checkpoint)
    assert checkpoint.startswith(f"{runs}/search-{search_id}/")
    stored = find_weights(checkpoint)
    assert stored is not None and stored.name == "weights.pt"

    out = tmp_path / "best.yaml"
    got = runner.invoke(
        app, ["export", str(search_id), "--weights", "-o", str(out), "--db", db_url]
    )
    assert got.exit_code == 0, got.output
    copied = tmp_path / "best.weights.pt"
    assert (
        hashlib.sha256(copied.read_bytes()).hexdigest()
        == hashlib.sha256(b"".join(stored.chunks())).hexdigest()
    )
    from space.arch import load_arch
    from space.nn import build_model

    model = build_model(load_arch(out))
    state = torch.load(copied, map_location="cpu", weights_only=True)
    model.load_state_dict(state)  # the weights fit the exported architecture

"""GET /metrics (issue 20): Prometheus's text format with the searches, queue, trials, running
searches' trials, runners, trial durations and request latencies, read from the real database,
under the read policy; and scraped while a real search runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select

from search.records.db import Search, Trial, create_db_engine, session_scope, utcnow
from search.records.runners import report_runner
from tests.api.api_helpers import API, make_client
from tests.search.search_helpers import spec_data
from tests.search.service_helpers import populate

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, metric: str, /, **labels: str) -> float | None:
    return samples.get((metric, tuple(sorted(labels.items()))))


def test_metrics_count_what_the_database_holds(client: TestClient, engine: Engine) -> None:
    running = populate(engine, name="live")
    populate(engine, name="waiting")  # queued
    with session_scope(engine) as s:
        search = s.get(Search, running)
        assert search is not None
        search.status, search.runner = "running", "host:1"
        search.heartbeat_at = utcnow() - timedelta(seconds=5)
        for trial in s.scalars(select(Trial).where(Trial.search_id == running)):
            trial.finished_at, trial.train_seconds = utcnow(), 3.0 + trial.number * 100
    report_runner(engine, "host:1", "driving", None, [running])
    report_runner(engine, "host:2", "waiting", "cannot connect to the Ray cluster", [])
    client.get(f"{API}/searches/{running}")
    client.get(f"{API}/searches/999999")
    samples = scrape(client)
    for state, count in (("driving", 1), ("waiting", 1), ("ready", 0), ("stopped", 0)):
        assert value(samples, "convnas_runners", state=state) == count

    assert value(samples, "convnas_searches", status="running") == 1
    assert value(samples, "convnas_searches", status="queued") == 1
    assert value(samples, "convnas_queue_depth") == 1
    with session_scope(engine) as s:
        by_status = dict(
            s.execute(select(Trial.status, func.count()).group_by(Trial.status)).tuples().all()
        )
        mine = dict(
            s.execute(
                select(Trial.status, func.count())
                .where(Trial.search_id == running)
                .group_by(Trial.status)
            )
            .tuples()
            .all()
        )
        finished = s.scalar(select(func.count()).where(Trial.search_id == running)) or 0
    for status, count in by_status.items():
        assert value(samples, "convnas_trials", status=status) == count
    for status, count in mine.items():  # the running search's own series
        labels = {"search_id": str(running), "name": "live", "status": status}
        assert value(samples, "convnas_search_trials", **labels) == count
    assert not any(k[0] == "convnas_search_trials" and ("name", "waiting") in k[1] for k in samples)
    runner = {"search_id": str(running), "runner": "host:1"}
    age = value(samples, "convnas_runner_heartbeat_age_seconds", **runner)
    assert age is not None and 5 <= age < 60
    assert value(samples, "convnas_runner_alive", **runner) == 1  # a fresh heartbeat
    # Durations 3, 103, 203... s: one within 5 s, all within a day.
    assert value(samples, "convnas_trial_duration_seconds_bucket", le="5.0") == 1
    assert value(samples, "convnas_trial_duration_seconds_count") == finished
    # Latencies by route template: one series for every search id.
    latency = "convnas_http_request_duration_seconds_count"
    ref = {"method": "GET", "route": "/api/v1/searches/{ref}"}
    assert value(samples, latency, **ref, status="2xx") == 1
    assert value(samples, latency, **ref, status="4xx") == 1


def test_metrics_follow_the_read_policy(db_url: str) -> None:
    with make_client(db_url, api_token="s3cret-token", api_read="token") as client:
        assert client.get("/metrics").status_code == 401
        auth = {"Authorization": "Bearer s3cret-token"}
        assert client.get("/metrics", headers=auth).status_code == 200


@pytest.mark.slow
@pytest.mark.ray
def test_metrics_scraped_during_a_search_show_its_trials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_data("scraped", trials=6, concurrency=1, epochs=3)))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    convnas = str(Path(sys.executable).parent / "convnas")
    args = [convnas, "search", "run", str(spec), "--db", url, "--storage", str(tmp_path / "runs")]
    driver = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen: list[float] = []
    try:
        with make_client(url) as client:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and driver.poll() is None:
                samples = scrape(client)
                labels = {"search_id": "1", "name": "scraped", "status": "completed"}
                done = value(samples, "convnas_search_trials", **labels)
                if done:
                    seen.append(done)
                    assert value(samples, "convnas_searches", status="running") == 1
                    break
                time.sleep(0.5)
        output = driver.communicate(timeout=240)[0].decode()
    finally:
        driver.kill()
    assert seen, f"no running search with completed trials was scraped:\n{output[-3000:]}"
    assert driver.returncode == 0, output[-3000:]
    engine = create_db_engine(url)
    try:
        with session_scope(engine) as s:
            assert s.scalar(select(func.count()).select_from(Trial)) == 6
    finally:
        engine.dispose()

"""``GET /metrics`` in Prometheus's text format: the service's numbers at the moment of the
scrape (:func:`search.service.metrics`) and this process's request latencies.

Every label set is bounded: request series are keyed by the route's template
(``/api/v1/searches/{ref}``, never the path a client sent), the method and the status class;
per-search series exist only for searches running now.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.methods import route_path
from search.service import MetricsOut

# Seconds: a page or a leaderboard answers in milliseconds, a CSV of 100k trials in seconds.
# Every state a runner reports (search.run.runner), each a series even at 0 (alerts need it).
RUNNER_STATES = ("ready", "driving", "waiting", "stopped")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Telemetry:
    """This process's request latencies (one per app: tests build many apps in a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "convnas_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status class",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def render(self, snapshot: MetricsOut) -> bytes:
        """The exposition of ``snapshot`` and the latencies."""
        scrape = CollectorRegistry(auto_describe=True)
        scrape.register(_Snapshot(snapshot))
        return generate_latest(scrape) + generate_latest(self.registry)


class RequestLatency:
    """ASGI middleware observing each HTTP request's duration into :class:`Telemetry`."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app, self.telemetry = app, telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = route_template(scope)
            labels = (scope["method"], route, f"{status // 100}xx")
            self.telemetry.latency.labels(*labels).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The template of the route ``scope``'s path matches (``other`` for none: the 404s of
    every path a scanner tries are one series)."""
    path = route_path(scope)
    for route in iter_route_contexts(getattr(scope.get("app"), "routes", ())):
        pattern = getattr(route, "path_regex", None)
        if pattern is not None and pattern.match(path):
            return str(route.path)
    return "other"


class _Snapshot(Collector):
    def __init__(self, snapshot: MetricsOut) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        m = self.snapshot
        yield _by_status("convnas_searches", "Searches by status", m.searches)
        queued = GaugeMetricFamily("convnas_queue_depth", "Searches queued for a runner")
        queued.add_metric([], m.searches.get("queued", 0))
        yield queued
        yield _by_status("convnas_trials", "Trials by status, all searches", m.trials)
        yield from self._running()
        yield from self._runners()
        yield _by_status(
            "convnas_runners",
            "Runner processes seen in the last minutes, by state",
            {state: self.snapshot.runner_states.get(state, 0) for state in RUNNER_STATES},
            label="state",
        )
        d = m.durations
        durations = HistogramMetricFamily(
            "convnas_trial_duration_seconds", "Training seconds of finished trials"
        )
        buckets = [(_bound(b), c) for b, c in d.buckets] + [("+Inf", d.count)]
        durations.add_metric([], buckets, d.total)
        yield durations

    def _running(self) -> Iterator[Metric]:
        trials = GaugeMetricFamily(
            "convnas_search_trials",
            "A running search's trials by status",
            labels=("search_id", "name", "status"),
        )
        requested = GaugeMetricFamily(
            "convnas_search_requested_trials",
            "The trials a running search asks for",
            labels=("search_id", "name"),
        )
        for search in self.snapshot.running:
            ident = [str(search.search_id), search.name]
            requested.add_metric(ident, search.requested)
            for status, count in sorted(search.trials.items()):
                trials.add_metric([*ident, status], count)
        yield trials
        yield requested

    def _runners(self) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            "convnas_runner_heartbeat_age_seconds",
            "Seconds since a running search's runner last beat",
            labels=("search_id", "runner"),
        )
        alive = GaugeMetricFamily(
            "convnas_runner_alive",
            "1 while a running search's runner beats (its heartbeat is fresh), else 0",
            labels=("search_id", "runner"),
        )
        for runner in self.snapshot.runners:
            labels = [str(runner.search_id), runner.runner or ""]
            if runner.heartbeat_age is not None:
                age.add_metric(labels, runner.heartbeat_age)
            alive.add_metric(labels, 1.0 if runner.alive else 0.0)
        yield age
        yield alive


def _by_status(
    name: str, documentation: str, counts: dict[str, int], label: str = "status"
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=(label,))
    for status, count in sorted(counts.items()):
        family.add_metric([status], count)
    return family


def _bound(value: float) -> str:
    return f"{value:g}" if value != int(value) else f"{int(value)}.0"

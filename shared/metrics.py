"""Prometheus metrics: cheap in-process recording, exposition through `prometheus_client` at scrape time.

Recording a request or a job is a dict update under a lock; `prometheus_client` (≈100 ms to import)
is loaded only when something scrapes, so a serverless cold start does not pay for it.

What the numbers mean depends on the process:

- API functions (`GET /api/metrics`): the request counters are *this instance's* since it started —
  Vercel runs many short-lived instances, so a scrape sees a fragment. Production dashboards take
  request rates from Vercel's own analytics and use the DB-derived gauges below, which are the same
  whichever instance answers.
- DB-derived gauges (`openagents_queue_*`, `openagents_jobs_stalled`, `openagents_jobs_failed`):
  read from procrastinate's tables at scrape time; true for the whole deployment.
- Workers and the Discord bot (`serve(port)`): long-lived processes, so their counters are complete
  for their lifetime; scraped over Fly's private network on `METRICS_PORT`.
- The SSE gateway renders the same registry on its own `/metrics` route.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

log = logging.getLogger("openagents.metrics")

# Seconds; spans a cached health check up to a slow turn opening or a long sweep job.
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# Plain classes, not dataclasses: every API function imports this module, and a dataclass costs ~0.5 ms
# of its cold start to generate methods these never use (comparison, repr).
class Counter:
    __slots__ = ("name", "help", "labels", "_values", "_lock")

    def __init__(self, name: str, help: str, labels: tuple[str, ...]) -> None:
        self.name = name  # without the `_total` suffix the exposition adds
        self.help = help
        self.labels = labels
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, *values: str, n: float = 1.0) -> None:
        with self._lock:
            self._values[values] = self._values.get(values, 0.0) + n

    def snapshot(self) -> dict[tuple[str, ...], float]:
        with self._lock:
            return dict(self._values)

    def value(self, *values: str) -> float:
        with self._lock:
            return self._values.get(values, 0.0)


class Histogram:
    __slots__ = ("name", "help", "labels", "buckets", "_values", "_lock")

    def __init__(self, name: str, help: str, labels: tuple[str, ...], buckets: tuple[float, ...]) -> None:
        self.name = name
        self.help = help
        self.labels = labels
        self.buckets = buckets
        # per label values: [count in each bucket (non-cumulative) …, count above the last], sum
        self._values: dict[tuple[str, ...], tuple[list[int], float]] = {}
        self._lock = threading.Lock()

    def observe(self, seconds: float, *values: str) -> None:
        i = bisect.bisect_left(self.buckets, seconds)
        with self._lock:
            counts, total = self._values.get(values) or ([0] * (len(self.buckets) + 1), 0.0)
            counts[i] += 1
            self._values[values] = (counts, total + seconds)

    def snapshot(self) -> dict[tuple[str, ...], tuple[list[int], float]]:
        with self._lock:
            return {k: (list(c), s) for k, (c, s) in self._values.items()}


class Recorder:
    """Every metric one process records."""

    __slots__ = ("counters", "histograms")

    def __init__(self) -> None:
        self.counters: list[Counter] = []
        self.histograms: list[Histogram] = []

    def counter(self, name: str, help: str, labels: tuple[str, ...]) -> Counter:
        c = Counter(name, help, labels)
        self.counters.append(c)
        return c

    def histogram(self, name: str, help: str, labels: tuple[str, ...], buckets: tuple[float, ...]) -> Histogram:
        h = Histogram(name, help, labels, buckets)
        self.histograms.append(h)
        return h


RECORDER = Recorder()

HTTP_REQUESTS = RECORDER.counter("openagents_http_requests", "API requests answered by this instance.",
                                 ("route", "method", "status"))
HTTP_ERRORS = RECORDER.counter("openagents_http_errors", "API requests answered with a 5xx by this instance.",
                               ("route", "method"))
HTTP_LATENCY = RECORDER.histogram("openagents_http_request_duration_seconds",
                                  "API request latency (for a streamed response: until its headers).",
                                  ("route", "method"), LATENCY_BUCKETS)
JOB_RUNS = RECORDER.counter("openagents_job_runs", "Jobs this worker ran, by task and outcome.",
                            ("task", "outcome"))
JOB_FAILURES = RECORDER.counter("openagents_job_failures", "Jobs this worker ran that raised.", ("task",))
JOB_DURATION = RECORDER.histogram("openagents_job_duration_seconds", "Job run time on this worker.", ("task",),
                                  JOB_BUCKETS)
SSE_ROUTED = RECORDER.counter("openagents_sse_gateway_requests", "Stream requests the SSE gateway answered.",
                              ("outcome",))
DISCORD_EVENTS = RECORDER.counter("openagents_discord_gateway_events", "Discord gateway events handled.",
                                  ("event",))


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.inc(route, method, str(status))
    HTTP_LATENCY.observe(seconds, route, method)
    if status >= 500:
        HTTP_ERRORS.inc(route, method)


class JobTimer:
    """Times one job run; `with JobTimer(task):` records its duration and whether it raised."""

    __slots__ = ("task", "_t0")

    def __init__(self, task: str) -> None:
        self.task = task
        self._t0 = 0.0

    def __enter__(self) -> JobTimer:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: Any) -> None:
        JOB_DURATION.observe(time.perf_counter() - self._t0, self.task)
        failed = exc_type is not None
        JOB_RUNS.inc(self.task, "failed" if failed else "succeeded")
        if failed:
            JOB_FAILURES.inc(self.task)


# --- DB-derived gauges -------------------------------------------------------------------------


# Named tuples: made only at scrape time, but declared at import, where a dataclass costs more.
class QueueState(NamedTuple):
    queue: str
    depth: int  # jobs waiting (todo), scheduled ones included
    due: int  # of those, the ones whose time has come
    oldest_due_age_s: float  # how long the oldest due job has waited; 0 when none is due


class JobsState(NamedTuple):
    queues: list[QueueState]
    stalled: int  # `doing` jobs whose worker stopped heartbeating
    failed_by_task: dict[str, int]  # failed jobs still kept, by task


def jobs_state(stalled_after_s: float) -> JobsState:
    from shared.data import get_db

    with get_db().service() as tx:
        queues = [QueueState(r["queue"], int(r["depth"]), int(r["due"]), float(r["oldest_due_age_s"]))
                  for r in tx.all("metrics_queue_depth")]
        stalled = int(tx.scalar("metrics_jobs_stalled", stalled_after_s=stalled_after_s) or 0)
        failed = {r["task"]: int(r["n"]) for r in tx.all("metrics_jobs_failed")}
    return JobsState(queues, stalled, failed)


# --- exposition --------------------------------------------------------------------------------


def _families(recorder: Recorder) -> Iterator[Any]:
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

    for c in recorder.counters:
        cf = CounterMetricFamily(c.name, c.help, labels=list(c.labels))
        for values, v in sorted(c.snapshot().items()):
            cf.add_metric(list(values), v)
        yield cf
    for h in recorder.histograms:
        hf = HistogramMetricFamily(h.name, h.help, labels=list(h.labels))
        for values, (counts, total) in sorted(h.snapshot().items()):
            running, cumulative = 0, []
            for bound, n in zip((*map(str, h.buckets), "+Inf"), counts, strict=True):
                running += n
                cumulative.append((bound, float(running)))
            hf.add_metric(list(values), cumulative, total)
        yield hf


def _jobs_families(state: JobsState) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    depth = GaugeMetricFamily("openagents_queue_depth", "Jobs waiting in each queue (deployment-wide).",
                              labels=["queue"])
    due = GaugeMetricFamily("openagents_queue_due", "Waiting jobs whose scheduled time has come.", labels=["queue"])
    age = GaugeMetricFamily("openagents_queue_oldest_job_age_seconds",
                            "How long the oldest due job in each queue has waited.", labels=["queue"])
    for q in state.queues:
        depth.add_metric([q.queue], q.depth)
        due.add_metric([q.queue], q.due)
        age.add_metric([q.queue], q.oldest_due_age_s)
    stalled = GaugeMetricFamily("openagents_jobs_stalled", "Running jobs whose worker stopped heartbeating.",
                                value=state.stalled)
    failed = GaugeMetricFamily("openagents_jobs_failed", "Failed jobs kept in the queue table, by task.",
                               labels=["task"])
    for task, n in sorted(state.failed_by_task.items()):
        failed.add_metric([task], n)
    yield from (depth, due, age, stalled, failed)


def _jobs_or_down(stalled_after_s: float) -> Iterator[Any]:
    """The job gauges, and whether reading them worked: a database outage must not take the
    request counters down with it (they are what shows the outage)."""
    from prometheus_client.core import GaugeMetricFamily

    try:
        families = list(_jobs_families(jobs_state(stalled_after_s)))
        ok = 1.0
    except Exception as exc:  # any failure here is "could not read the queue"; the cause goes to the log
        log.warning("metrics: job gauges unavailable: %s", type(exc).__name__)
        families, ok = [], 0.0
    yield from families
    yield GaugeMetricFamily("openagents_jobs_scrape_ok", "1 if the job gauges could be read from Postgres.", value=ok)


def _registry(recorder: Recorder, extra: Iterable[Callable[[], Iterable[Any]]] = ()) -> Any:
    from prometheus_client import CollectorRegistry
    from prometheus_client.process_collector import ProcessCollector

    class _Collector:
        def __init__(self, make: Callable[[], Iterable[Any]]) -> None:
            self._make = make

        def collect(self) -> Iterable[Any]:
            return self._make()

    reg = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=reg)
    reg.register(_Collector(lambda: _families(recorder)))
    for make in extra:
        reg.register(_Collector(make))
    return reg


def render(*, include_jobs: bool = False, stalled_after_s: float = 60.0, recorder: Recorder = RECORDER) -> bytes:
    """The text exposition of `recorder` (and, with `include_jobs`, the DB-derived job gauges)."""
    from prometheus_client import generate_latest

    extra: list[Callable[[], Iterable[Any]]] = []
    if include_jobs:
        extra.append(lambda: _jobs_or_down(stalled_after_s))
    return bytes(generate_latest(_registry(recorder, extra)))


def serve(port: int, *, addr: str = "::", recorder: Recorder = RECORDER) -> None:
    """Exposes `recorder` on `http://[addr]:port/metrics` from a daemon thread (workers, the Discord bot).

    No token here: the port is left out of the app's public `[[services]]`, so only Fly's private
    network (where Prometheus runs) reaches it."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=addr, registry=_registry(recorder))

"""`GET /api/metrics`: the Prometheus exposition, scraped and parsed by the official parser."""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from shared import metrics
from shared.config import get_settings
from tests.support.harness import assert_problem


def _auth() -> dict[str, str]:
    token = get_settings().METRICS_TOKEN
    assert token is not None, "the dev settings generate a METRICS_TOKEN"
    return {"Authorization": f"Bearer {token.get_secret_value()}"}


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _sample(family: Any, suffix: str, **labels: str) -> float:
    for s in family.samples:
        if s.name == family.name + suffix and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    return 0.0


def test_metrics_need_the_token(client):
    assert_problem(client.get("/api/metrics"), 401)
    assert_problem(client.get("/api/metrics", headers={"Authorization": "Bearer wrong"}), 401)
    token = _auth()["Authorization"].removeprefix("Bearer ")
    assert_problem(client.get("/api/metrics", headers={"Authorization": token}), 401)


def test_scrape_parses_and_counts_requests(client):
    first = client.get("/api/metrics", headers=_auth())
    assert first.status_code == 200
    assert first.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    before = _families(first.get_data(as_text=True))
    for name in ("openagents_http_requests", "openagents_http_errors", "openagents_http_request_duration_seconds",
                 "openagents_queue_depth", "openagents_queue_oldest_job_age_seconds", "openagents_jobs_stalled",
                 "openagents_jobs_failed", "openagents_job_duration_seconds", "openagents_job_failures"):
        assert name in before, name
    assert before["openagents_http_request_duration_seconds"].type == "histogram"
    assert before["openagents_http_requests"].type == "counter"

    assert client.get("/api/health").status_code in (200, 503)
    assert client.get("/api/instances/not-a-uuid").status_code >= 400
    after = _families(client.get("/api/metrics", headers=_auth()).get_data(as_text=True))
    req = ("_total", {"route": "/api/health", "method": "GET"})
    assert _sample(after["openagents_http_requests"], req[0], **req[1]) >= \
        _sample(before["openagents_http_requests"], req[0], **req[1]) + 1
    lat_before = _sample(before["openagents_http_request_duration_seconds"], "_count", route="/api/health")
    lat_after = _sample(after["openagents_http_request_duration_seconds"], "_count", route="/api/health")
    assert lat_after == lat_before + 1
    # Labelled by the route's rule, never by the raw path (one series per route).
    paths = {s.labels["route"] for s in after["openagents_http_requests"].samples}
    assert not any("not-a-uuid" in p for p in paths)


def test_queue_gauges_come_from_the_job_table(client, db):
    with db.service() as tx:
        tx.sql("delete from procrastinate.procrastinate_jobs where queue_name = 'metrics-test'")
        tx.sql("select procrastinate.procrastinate_defer_jobs_v1(array[row('metrics-test', 'metrics_probe', 0, null,"
               " null, '{}'::jsonb, null)::procrastinate.procrastinate_job_to_defer_v1])")
        tx.sql("update procrastinate.procrastinate_events set at = now() - interval '90 seconds'"
               " where job_id in (select id from procrastinate.procrastinate_jobs where queue_name = 'metrics-test')")
        tx.sql("insert into procrastinate.procrastinate_jobs (queue_name, task_name, status, args)"
               " values ('metrics-test', 'metrics_probe', 'failed', '{}')")
    try:
        fams = _families(client.get("/api/metrics", headers=_auth()).get_data(as_text=True))
        assert _sample(fams["openagents_queue_depth"], "", queue="metrics-test") == 1
        assert _sample(fams["openagents_queue_oldest_job_age_seconds"], "", queue="metrics-test") >= 89
        assert _sample(fams["openagents_jobs_failed"], "", task="metrics_probe") == 1
    finally:
        with db.service() as tx:
            tx.sql("delete from procrastinate.procrastinate_jobs where queue_name = 'metrics-test'")


def test_job_timer_records_duration_and_failures():
    recorder = metrics.Recorder()
    runs = recorder.counter("t_runs", "runs", ("task",))
    runs.inc("x")
    before = metrics.JOB_FAILURES.value("metrics_probe")
    with metrics.JobTimer("metrics_probe"):
        pass
    with pytest.raises(RuntimeError), metrics.JobTimer("metrics_probe"):
        raise RuntimeError("boom")
    assert metrics.JOB_FAILURES.value("metrics_probe") == before + 1
    fams = _families(metrics.render().decode())
    assert _sample(fams["openagents_job_runs"], "_total", task="metrics_probe", outcome="succeeded") >= 1
    assert _sample(fams["openagents_job_duration_seconds"], "_count", task="metrics_probe") >= 2
    assert _sample(_families(metrics.render(recorder=recorder).decode())["t_runs"], "_total", task="x") == 1


def test_sse_gateway_metrics_route():
    from fly.sse_gateway.app import create_app

    client = TestClient(create_app("unused-key", metrics_token="gw-metrics-token"))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    client.post("/v1/turns")  # no stream token: refused and counted
    resp = client.get("/metrics", headers={"Authorization": "Bearer gw-metrics-token"})
    assert resp.status_code == 200
    fams = _families(resp.text)
    assert _sample(fams["openagents_sse_gateway_requests"], "_total", outcome="no_token") >= 1


def test_serve_exposes_the_recorder_on_a_port():
    recorder = metrics.Recorder()
    recorder.counter("t_served", "served", ("kind",)).inc("a", n=3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    metrics.serve(port, addr="127.0.0.1", recorder=recorder)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert _sample(_families(text)["t_served"], "_total", kind="a") == 3


def test_the_grafana_dashboard_uses_only_exposed_metrics(client):
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana" / "openagents.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {re.sub(r"_(total|bucket|count|sum)$", "", m) for e in exprs for m in re.findall(r"\b(openagents_\w+)", e)}
    exposed = set(_families(client.get("/api/metrics", headers=_auth()).get_data(as_text=True)))
    assert used and used <= exposed, used - exposed

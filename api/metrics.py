"""Metrics: the Prometheus text exposition for a scraper holding `METRICS_TOKEN`."""

from __future__ import annotations

from flask import Response

from shared import metrics
from shared.config import get_settings
from shared.web import RequestContext, Router, create_app

router = Router("metrics")


@router.get("/api/metrics", auth="metrics", errors=(401,))
def scrape(ctx: RequestContext) -> Response:
    """Prometheus metrics (`Authorization: Bearer $METRICS_TOKEN`): this instance's request counters and
    the deployment-wide job queue gauges."""
    body = metrics.render(include_jobs=True, stalled_after_s=get_settings().WORKER_STALLED_AFTER_S)
    return Response(body, mimetype=None, content_type=metrics.CONTENT_TYPE)


app = create_app(__name__, [router])

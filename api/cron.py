"""Vercel Cron entry points: each only defers its durable job (the worker does the work)."""

from __future__ import annotations

from shared import jobs
from shared.data import get_db
from shared.models import Model
from shared.problems import not_found
from shared.schedules import SCHEDULES
from shared.web import RequestContext, Router, create_app

router = Router("cron")


class Deferred(Model):
    name: str
    task: str
    job_id: int | None
    already_queued: bool


@router.get("/api/cron/{name}", auth="cron", response=Deferred, status=202, errors=(401, 404))
def run_cron(ctx: RequestContext, name: str) -> Deferred:
    """Defer one scheduled job (Vercel Cron; `Authorization: Bearer $CRON_SECRET`)."""
    schedule = SCHEDULES.get(name)
    if schedule is None:
        raise not_found("scheduled job")
    with get_db().service() as tx:
        job_id = jobs.defer(tx, schedule.job, queueing_lock=f"cron:{name}")
    return Deferred(name=name, task=schedule.task, job_id=job_id, already_queued=job_id is None)


app = create_app(__name__, [router])

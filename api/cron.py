"""Vercel Cron entry points: each only defers its durable job (the worker does the work)."""

from __future__ import annotations

import hmac

from flask import request
from pydantic import BaseModel

from shared import jobs
from shared.config import get_settings
from shared.data import get_db
from shared.problems import not_found, unauthorized
from shared.schedules import SCHEDULES
from shared.web import RequestContext, Router, create_app

router = Router("cron")


class Deferred(BaseModel):
    name: str
    task: str
    job_id: int | None
    already_queued: bool


def _check_cron_secret() -> None:
    secret = get_settings().CRON_SECRET
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {secret.get_secret_value()}" if secret else None
    if expected is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise unauthorized("Cron calls need `Authorization: Bearer $CRON_SECRET`.")


@router.get("/api/cron/{name}", auth="none", response=Deferred, status=202, errors=(401, 404))
def run_cron(ctx: RequestContext, name: str) -> Deferred:
    """Defer one scheduled job (Vercel Cron)."""
    _check_cron_secret()
    schedule = SCHEDULES.get(name)
    if schedule is None:
        raise not_found("scheduled job")
    with get_db().service() as tx:
        job_id = jobs.defer(tx, schedule.task, queue=schedule.queue, queueing_lock=f"cron:{name}")
    return Deferred(name=name, task=schedule.task, job_id=job_id, already_queued=job_id is None)


app = create_app(__name__, [router])

"""Maintenance jobs.

`retry_stalled_jobs`: a worker that dies mid-job (SIGKILL, lost host) leaves its job `doing` forever,
and with it the job's lock (lifecycle jobs lock their instance). Every minute, and once when any worker
starts, jobs whose worker has sent no heartbeat for WORKER_STALLED_AFTER_S are put back to `todo`;
every job is written to be safe to run again (ARCHITECTURE §8).
"""

from __future__ import annotations

import logging

from jobs.app import app
from shared import logs

log = logging.getLogger("openagents.jobs.maintenance")


def recover_stalled_jobs(after_s: float | None = None) -> int:
    """Put jobs of dead workers back in the queue; returns how many."""
    from shared.config import get_settings
    from shared.data import get_db

    after = after_s if after_s is not None else get_settings().WORKER_STALLED_AFTER_S
    with get_db().service() as tx:
        stalled = tx.all("jobs_stalled", after_s=after)
        for job in stalled:
            tx.scalar("job_retry_now", id=job["id"])
    for job in stalled:
        logs.log(log, logging.WARNING, "stalled job retried", job_id=job["id"], task=job["task_name"], lock=job["lock"])
    return len(stalled)


@app.periodic(cron="* * * * *", periodic_id="retry-stalled-jobs")
@app.task(name="retry_stalled_jobs", queue="maintenance", queueing_lock="retry_stalled_jobs")
def retry_stalled_jobs(timestamp: int | None = None) -> int:
    return recover_stalled_jobs()

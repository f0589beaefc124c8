"""Maintenance jobs.

`retry_stalled_jobs`: a worker that dies mid-job (SIGKILL, lost host) leaves its job `doing` forever,
and with it the job's lock (lifecycle jobs lock their instance). Every minute, and once when any worker
starts, jobs whose worker has sent no heartbeat for WORKER_STALLED_AFTER_S (or whose worker row is gone)
are put back to `todo` through procrastinate's own job manager (`get_stalled_jobs`, `retry_job`);
every job is written to be safe to run again (ARCHITECTURE §8).
"""

from __future__ import annotations

import logging

import procrastinate

from jobs.app import periodic, task
from shared import jobs, logs

log = logging.getLogger("openagents.jobs.maintenance")


async def recover_stalled_jobs(app: procrastinate.App, after_s: float | None = None) -> int:
    """Put jobs of dead workers back in the queue (the app must be open); returns how many."""
    from shared.config import get_settings

    after = after_s if after_s is not None else get_settings().WORKER_STALLED_AFTER_S
    stalled = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=after))
    for job in stalled:
        await app.job_manager.retry_job(job)
        logs.log(log, logging.WARNING, "stalled job retried", job_id=job.id, task=job.task_name, lock=job.lock)
    return len(stalled)


@periodic("retry-stalled-jobs")
@task(jobs.RETRY_STALLED_JOBS, pass_context=True)
async def retry_stalled_jobs(context: procrastinate.JobContext, timestamp: int | None = None) -> int:
    return await recover_stalled_jobs(context.app)

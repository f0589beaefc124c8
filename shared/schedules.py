"""Scheduled jobs, by the name of their schedule.

`SCHEDULES` is what Vercel Cron calls (`GET /api/cron/{name}`, checked against vercel.json by a test)
and what the workers run as periodic tasks too; `WORKER_SCHEDULES` only the workers run (every
minute: too often for Vercel Cron, and they are about the workers themselves). The jobs are the
specs of `shared.jobs`.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import jobs


@dataclass(frozen=True, slots=True)
class Schedule:
    job: jobs.JobSpec
    cron: str

    @property
    def task(self) -> str:
        return self.job.name

    @property
    def queue(self) -> str:
        return self.job.queue


SCHEDULES: dict[str, Schedule] = {
    "health-check": Schedule(jobs.HEALTH_CHECK, "*/5 * * * *"),
    "reconcile": Schedule(jobs.RECONCILE, "*/5 * * * *"),
    "idle-shutdown": Schedule(jobs.IDLE_SHUTDOWN, "7 * * * *"),
    "reap-turns": Schedule(jobs.REAP_TURNS, "*/5 * * * *"),
    "billing-aggregate": Schedule(jobs.BILLING_AGGREGATE, "17 * * * *"),
    "settle-model-calls": Schedule(jobs.SETTLE_MODEL_CALLS, "11 * * * *"),
    "payouts": Schedule(jobs.PAYOUTS, "0 6 1 * *"),
    "ssh-audit-retention": Schedule(jobs.SSH_AUDIT_RETENTION, "41 3 * * *"),
}

WORKER_SCHEDULES: dict[str, Schedule] = {
    "refill-warm-pool": Schedule(jobs.REFILL_WARM_POOL, "* * * * *"),
    "retry-stalled-jobs": Schedule(jobs.RETRY_STALLED_JOBS, "* * * * *"),
}

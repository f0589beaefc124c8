"""Lifecycle jobs (queue `lifecycle`, ARCHITECTURE §4). The work is in `shared.lifecycle`.

Per-instance jobs share the procrastinate lock `instance:<id>`, so the queue runs them one at a time
in the order they were asked for (destroy is deferred with a higher priority, so it does not wait
behind a provision retry's backoff), and each also holds the instance's advisory lock while it works
(which is what `wake` and the health check respect). Every job is safe to kill mid-way and run again:
the saga resumes from what it recorded, actions re-read the machine's state first.

Retries: `LifecycleRetry` backs off exponentially from LIFECYCLE_RETRY_BASE_S (read when the job
fails, so tests can shrink it) and only for failures worth retrying; when a provision or an action
runs for the last time it settles the instance (`error` + notification) instead of raising.
The scheduled sweeps (health check, reconcile, idle shutdown) are procrastinate periodic tasks and
Vercel Cron targets, both from `shared.schedules.SCHEDULES`. The warm-pool refill runs every minute as
a periodic task of the workers (`WORKER_SCHEDULES`, and is deferred by every claim); it shares the job
lock `warm-pool`, so two never run at once. Names, queues, priorities and locks are the specs of
`shared.jobs`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import procrastinate
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from jobs.app import periodic, task
from shared import jobs, logs

log = logging.getLogger("openagents.jobs.lifecycle")

PROVISION_ATTEMPTS = 6
ACTION_ATTEMPTS = 4
DESTROY_ATTEMPTS = 10
STREAMING_RECHECK_S = 30


class LifecycleRetry(BaseRetryStrategy):
    """Exponential backoff (base × 2^attempt, at most 5 minutes) for retryable failures only."""

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        from shared.config import get_settings
        from shared.lifecycle.errors import retryable

        if job.attempts + 1 >= self.max_attempts or not retryable(exception):
            return None
        wait = min(300.0, get_settings().LIFECYCLE_RETRY_BASE_S * 2 ** job.attempts)
        return RetryDecision(retry_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait))


def _final(context: procrastinate.JobContext, max_attempts: int) -> bool:
    assert context.job is not None
    return context.job.attempts + 1 >= max_attempts


@task(jobs.PROVISION_INSTANCE, pass_context=True, retry=LifecycleRetry(PROVISION_ATTEMPTS))
def provision_instance(context: procrastinate.JobContext, instance_id: str) -> str:
    """The provision saga for one instance (deferred by the hire, with the row, in one transaction)."""
    from shared.lifecycle.provision import provision

    return provision(instance_id, final_attempt=_final(context, PROVISION_ATTEMPTS))


def _run_action(context: procrastinate.JobContext, instance_id: str, action: str, reason: str = "user") -> str:
    from shared.lifecycle.actions import mark_failed, run_action
    from shared.lifecycle.errors import retryable

    try:
        return run_action(instance_id, action, reason=reason)  # type: ignore[arg-type]
    except Exception as exc:
        if retryable(exc) and not _final(context, ACTION_ATTEMPTS):
            raise
        mark_failed(instance_id, action, exc)
        logs.log(log, logging.WARNING, "lifecycle action failed", instance_id=instance_id, action=action,
                 error=str(exc)[:300])
        return "error"


@task(jobs.START_INSTANCE, pass_context=True, retry=LifecycleRetry(ACTION_ATTEMPTS))
def start_instance(context: procrastinate.JobContext, instance_id: str) -> str:
    return _run_action(context, instance_id, "start")


@task(jobs.STOP_INSTANCE, pass_context=True, retry=LifecycleRetry(ACTION_ATTEMPTS))
def stop_instance(context: procrastinate.JobContext, instance_id: str, reason: str = "user") -> str:
    return _run_action(context, instance_id, "stop", reason)


@task(jobs.SUSPEND_INSTANCE, pass_context=True, retry=LifecycleRetry(ACTION_ATTEMPTS))
def suspend_instance(context: procrastinate.JobContext, instance_id: str) -> str:
    return _run_action(context, instance_id, "suspend")


@task(jobs.RESTART_INSTANCE, pass_context=True, retry=LifecycleRetry(ACTION_ATTEMPTS))
def restart_instance(context: procrastinate.JobContext, instance_id: str) -> str:
    return _run_action(context, instance_id, "restart")


@task(jobs.DESTROY_INSTANCE, retry=LifecycleRetry(DESTROY_ATTEMPTS))
def destroy_instance(instance_id: str) -> str:
    """destroying → stop → delete machine → snapshot + delete volume → delete app → destroyed."""
    from shared.lifecycle.destroy import destroy

    return destroy(instance_id)


@task(jobs.UPDATE_INSTANCE, retry=LifecycleRetry(ACTION_ATTEMPTS))
def update_instance(instance_id: str, version_id: str | None = None, image: str | None = None) -> str:
    """Roll a new config (version, image) out to one instance; waits while a turn streams."""
    from shared.data import get_db
    from shared.lifecycle.errors import TurnStreaming
    from shared.lifecycle.update import update

    try:
        return update(instance_id, version_id=version_id, image=image)
    except TurnStreaming:
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=STREAMING_RECHECK_S)
        with get_db().service() as tx:
            jobs.defer(tx, jobs.UPDATE_INSTANCE, scheduled_at=later, instance_id=instance_id, version_id=version_id,
                       image=image)
        return "deferred (turn streaming)"


@periodic("health-check")
@task(jobs.HEALTH_CHECK)
def health_check(timestamp: int | None = None) -> dict[str, Any]:
    """Every 5 minutes: sync with Fly's machine states, defer a probe job per page of started machines."""
    from shared.lifecycle.health import health_check as sweep

    return sweep(timestamp=timestamp).model_dump()


@task(jobs.HEALTH_PROBE)
def health_probe(instance_ids: list[str], listed_at: float) -> dict[str, Any]:
    """One page of the health check: probe its started machines, restart or stop failures."""
    from shared.lifecycle.health import health_probe as probe

    return probe(instance_ids=instance_ids, listed_at=listed_at).model_dump()


@periodic("reconcile")
@task(jobs.RECONCILE)
def reconcile(timestamp: int | None = None) -> dict[str, Any]:
    """Every 5 minutes: database vs Fly; drift repaired, orphans deleted."""
    from shared.lifecycle.reconcile import reconcile as run

    return run().model_dump()


@periodic("idle-shutdown")
@task(jobs.IDLE_SHUTDOWN)
def idle_shutdown(timestamp: int | None = None) -> dict[str, Any]:
    """Hourly: stop instances idle past their plan's threshold."""
    from shared.lifecycle.idle import idle_shutdown as run

    return run().model_dump()


@periodic("refill-warm-pool")
@task(jobs.REFILL_WARM_POOL)
def refill_warm_pool(timestamp: int | None = None) -> dict[str, Any]:
    """Every minute and after each claim: keep WARM_POOL_SIZE suspended units ready for hires."""
    from shared.lifecycle.warm_pool import refill

    return refill().model_dump()

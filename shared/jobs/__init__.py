"""Durable jobs from the deployed library's side: their declarations and deferring them (the task
functions and the worker are in `jobs/`).

    spec        `JobSpec` (name, queue, arguments, priority, how the locks are derived) and `defer`
    catalogue   every job's spec, declared once

A job is deferred in the same transaction as the rows that need it: either both commit or neither
does, so nothing is half-written and nothing is lost:

    with get_db().service() as tx:
        jobs.defer(tx, jobs.PROVISION_INSTANCE, instance_id=iid)
"""

from shared.jobs.catalogue import (
    ALL,
    BILLING_AGGREGATE,
    CONTINUE_TURN,
    DESTROY_INSTANCE,
    HEALTH_CHECK,
    HEALTH_PROBE,
    IDLE_SHUTDOWN,
    INSTANCE_ACTIONS,
    PAYOUTS,
    PROVISION_INSTANCE,
    REAP_TURNS,
    RECONCILE,
    REFILL_WARM_POOL,
    RELAY_PROCESS,
    RESTART_INSTANCE,
    RETRY_STALLED_JOBS,
    SETTLE_MODEL_CALLS,
    SSH_AUDIT_RETENTION,
    START_INSTANCE,
    STOP_INSTANCE,
    STRIPE_EVENT,
    SUSPEND_INSTANCE,
    UPDATE_INSTANCE,
    instance_lock,
    relay_chat_lock,
)
from shared.jobs.spec import BY_CALLER, JobArgs, JobSpec, defer

__all__ = [
    "ALL", "BILLING_AGGREGATE", "BY_CALLER", "CONTINUE_TURN", "DESTROY_INSTANCE", "HEALTH_CHECK", "HEALTH_PROBE", "IDLE_SHUTDOWN", "INSTANCE_ACTIONS",
    "PAYOUTS", "PROVISION_INSTANCE", "REAP_TURNS", "RECONCILE", "REFILL_WARM_POOL", "RELAY_PROCESS", "RESTART_INSTANCE",
    "RETRY_STALLED_JOBS", "SETTLE_MODEL_CALLS", "SSH_AUDIT_RETENTION", "START_INSTANCE", "STOP_INSTANCE", "STRIPE_EVENT", "SUSPEND_INSTANCE", "UPDATE_INSTANCE",
    "JobArgs", "JobSpec", "defer", "instance_lock", "relay_chat_lock",
]

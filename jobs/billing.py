"""Billing jobs: Stripe events, the turn reaper, hourly usage metering + credit expiry, payouts.

Each is safe to kill mid-way and run again (ARCHITECTURE §8): the work they do is keyed (turn id,
event id, meter identifier, payout idempotency key), so a rerun finishes the job without doing any
part of it twice. The scheduled ones are both procrastinate periodic tasks (a long-running worker)
and Vercel Cron targets (`GET /api/cron/<name>` defers the same task), both read from SCHEDULES. Names,
queues and locks are the specs of `shared.jobs`.
"""

from __future__ import annotations

import logging
from typing import Any

import procrastinate

from jobs.app import periodic, task
from shared import jobs, logs

log = logging.getLogger("openagents.jobs.billing")


@task(jobs.STRIPE_EVENT, retry=procrastinate.RetryStrategy(max_attempts=8, exponential_wait=2))
def stripe_event(event_id: str) -> str:
    """Handle one recorded Stripe event exactly once (deferred by the webhook)."""
    from shared.billing.events import process_event

    outcome = process_event(event_id)
    logs.log(log, logging.INFO, "stripe event processed", event_id=event_id, outcome=outcome)
    return outcome


@periodic("reap-turns")
@task(jobs.REAP_TURNS)
def reap_turns(timestamp: int | None = None) -> dict[str, Any]:
    """Settle finished-but-unsettled turns; close and settle streams whose function died."""
    from shared.billing.settlement import reap_turns as reap

    result = reap()
    logs.log(log, logging.INFO, "turns reaped", **result.model_dump())
    return result.model_dump()


@periodic("billing-aggregate")
@task(jobs.BILLING_AGGREGATE, retry=procrastinate.RetryStrategy(max_attempts=3, exponential_wait=5))
def billing_aggregate(timestamp: int | None = None) -> dict[str, Any]:
    """Hourly: usage → meter reports → Stripe meter events; expire lapsed subscription credits."""
    from shared.billing import ledger, metering
    from shared.data import get_db

    with get_db().service() as tx:
        expired = ledger.expire_stale(tx)
    result = metering.run()
    logs.log(log, logging.INFO, "usage aggregated", expired_balances=expired, **result.model_dump())
    return {**result.model_dump(), "expired_balances": expired}


@periodic("settle-model-calls")
@task(jobs.SETTLE_MODEL_CALLS, retry=procrastinate.RetryStrategy(max_attempts=3, exponential_wait=5))
def settle_model_calls(timestamp: int | None = None) -> dict[str, Any]:
    """Hourly: debit model calls made outside turns (heartbeats, background work) and late ones."""
    from shared.llm.hourly import settle_model_calls as settle

    return settle().model_dump()


@periodic("payouts")
@task(jobs.PAYOUTS, retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=10))
def payouts(timestamp: int | None = None) -> dict[str, Any]:
    """Monthly: one transfer per creator of last month's unpaid earnings."""
    from shared.billing import payouts as creator_payouts

    result = creator_payouts.run()
    logs.log(log, logging.INFO, "payouts run", **result.model_dump())
    return result.model_dump()

"""Usage → Stripe Billing Meter events, hourly (ARCHITECTURE §5 "Billing").

Two steps, each safe to rerun:
1. Aggregate: one SQL statement sums `usage_events` per user and complete UTC hour since the last
   aggregated hour, prices it with the settlement price table (credits), and inserts `meter_reports`
   rows; `unique (user_id, period_start)` + `on conflict do nothing` make a rerun add nothing.
2. Report: each unreported row (of users with a Stripe customer) becomes one meter event whose
   `identifier` is the row's (`oa-usage-<user>-<hour epoch>`), then the row is marked reported. A
   crash between the two means the rerun sends the same identifier again, which Stripe refuses as a
   duplicate: we treat that answer as "already reported". So nothing is ever reported twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pydantic import BaseModel

from shared import logs
from shared.billing.pricing import PriceTable, price_table
from shared.billing.stripe_client import is_configured, stripe_client
from shared.data import get_db

log = logging.getLogger("openagents.billing")

# Usage rows carry their transaction's start time; waiting a few minutes past the hour lets turns
# that were in flight at the boundary commit before their hour is aggregated.
GRACE = timedelta(minutes=5)


class MeterRun(BaseModel):
    aggregated: int
    reported: int
    duplicates: int
    skipped: bool = False  # Stripe not configured: aggregated only


def aggregate(prices: PriceTable | None = None, grace: timedelta = GRACE) -> int:
    with get_db().service() as tx:
        return tx.execute("meter_aggregate", grace_s=grace.total_seconds(), **(prices or price_table()).sql_params())


def _is_duplicate(exc: Exception) -> bool:
    import stripe

    return isinstance(exc, stripe.InvalidRequestError) and "already exists" in str(exc.user_message or exc)


def report(batch: int = 500) -> tuple[int, int]:
    from shared.config import get_settings

    event_name = get_settings().STRIPE_METER_EVENT_NAME
    client = stripe_client()
    reported = duplicates = 0
    while True:
        with get_db().service() as tx:
            rows = tx.all("meter_unreported", limit=batch)
        if not rows:
            return reported, duplicates
        for row in rows:
            try:
                client.v1.billing.meter_events.create({
                    "event_name": event_name,
                    "identifier": row["identifier"],
                    "timestamp": int(row["period_start"].timestamp()),
                    "payload": {"stripe_customer_id": row["stripe_customer_id"], "value": str(row["value"])},
                })
                reported += 1
            except Exception as exc:
                if not _is_duplicate(exc):
                    raise
                duplicates += 1
            with get_db().service() as tx:
                tx.execute("meter_mark_reported", id=row["id"])
        if len(rows) < batch:
            return reported, duplicates


def run(prices: PriceTable | None = None, grace: timedelta = GRACE) -> MeterRun:
    aggregated = aggregate(prices, grace)
    if not is_configured():
        logs.log(log, logging.INFO, "usage aggregated; Stripe is not configured, nothing reported",
                 aggregated=aggregated)
        return MeterRun(aggregated=aggregated, reported=0, duplicates=0, skipped=True)
    reported, duplicates = report()
    return MeterRun(aggregated=aggregated, reported=reported, duplicates=duplicates)

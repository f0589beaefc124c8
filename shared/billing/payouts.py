"""Monthly creator payouts: unpaid earnings → one Stripe Transfer per creator and month.

1. Claim (one statement): for every creator with Connect payouts enabled, insert a `payouts` row for
   the month (`unique (creator_id, period)`, idempotency key `payout:<creator>:<YYYY-MM>`) and point
   their unpaid earnings from before the cutoff at it. A second run for the same month claims
   nothing; earnings that arrive later wait for next month's payout.
2. Transfer: each `pending` payout becomes a Transfer sent with the payout's idempotency key, then is
   marked `paid` with the transfer id. A crash in between leaves it pending; the rerun sends the same
   key and Stripe replays the first transfer instead of making a second.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pydantic import BaseModel

from shared import logs
from shared.billing.plans import USD_CENTS_PER_CREDIT
from shared.billing.stripe_client import is_configured, stripe_client
from shared.data import get_db

log = logging.getLogger("openagents.billing")


class PayoutRun(BaseModel):
    period: str
    claimed_earnings: int
    transferred: int
    skipped: bool = False


def previous_month(now: datetime | None = None) -> tuple[str, datetime]:
    """The month just ended (`YYYY-MM`) and its end (the cutoff: the first of this month, UTC)."""
    now = now or datetime.now(UTC)
    cutoff = datetime(now.year, now.month, 1, tzinfo=UTC)
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}", cutoff


def claim(period: str, cutoff: datetime) -> int:
    with get_db().service() as tx:
        return tx.execute("payout_create", period=period, cutoff=cutoff, cents_per_credit=USD_CENTS_PER_CREDIT)


def transfer_pending(batch: int = 200) -> int:
    client = stripe_client()
    with get_db().service() as tx:
        pending = tx.all("payouts_pending", limit=batch)
    done = 0
    for p in pending:
        transfer = client.v1.transfers.create(
            {
                "amount": int(p["amount_cents"]),
                "currency": "usd",
                "destination": p["connect_account_id"],
                "transfer_group": f"payouts-{p['period']}",
                "description": f"OpenAgents creator earnings {p['period']}",
                "metadata": {"payout_id": str(p["id"]), "creator_id": str(p["creator_id"]), "period": p["period"],
                             "credits": str(p["credits"])},
            },
            {"idempotency_key": p["idempotency_key"]},
        )
        with get_db().service() as tx:
            done += tx.execute("payout_mark_paid", id=p["id"], transfer_id=transfer.id)
    return done


def run(now: datetime | None = None) -> PayoutRun:
    period, cutoff = previous_month(now)
    claimed = claim(period, cutoff)
    if not is_configured():
        logs.log(log, logging.INFO, "payouts claimed; Stripe is not configured, nothing transferred",
                 period=period, claimed=claimed)
        return PayoutRun(period=period, claimed_earnings=claimed, transferred=0, skipped=True)
    return PayoutRun(period=period, claimed_earnings=claimed, transferred=transfer_pending())

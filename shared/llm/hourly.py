"""The hourly settlement of model calls outside turns (issue 11 item 2: heartbeats and background
work are metered too).

Calls with no turn, and calls that arrived after their turn was settled, wait as
`settles_with = 'hour'`. Once an hour, for each user with such calls from before the current hour:
one transaction marks them settled and sums them per model (`llm_hour_claim`), prices them with the
settlement price table and debits the total (`ledger_charge_turn` without a turn: from credits no
turn holds; the rest a recorded shortfall), keyed `llm-hour:<user>:<hour epoch>:<first call id>` —
so a rerun finds nothing left to claim and a crash undoes claim and debit together. Calls made with
the user's own key pay no tokens. The same run drops rate-limit windows that ended days ago.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from pydantic import BaseModel

from shared import logs, ratelimit
from shared.billing.pricing import PriceTable, price_table
from shared.data import get_db

log = logging.getLogger("openagents.llm")


class HourlyRun(BaseModel):
    users: int
    calls: int
    credits: int
    shortfall: int
    failed: int
    rate_limit_rows_pruned: int
    spend_rows_pruned: int = 0


def settle_model_calls(*, now: datetime | None = None, prices: PriceTable | None = None,
                       limit: int = 1000) -> HourlyRun:
    prices = prices or price_table()
    cutoff = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    with get_db().service() as tx:
        users = [str(r["user_id"]) for r in tx.all("llm_hour_due_users", cutoff=cutoff, limit=limit)]
    calls = credits = shortfall = failed = 0
    for user_id in users:
        try:
            with get_db().service() as tx:
                rows = tx.all("llm_hour_claim", user_id=user_id, cutoff=cutoff)
                if not rows:
                    continue
                amount = prices.metered_credits(rows)
                n = sum(int(r["calls"]) for r in rows)
                if amount > 0:
                    key = f"llm-hour:{user_id}:{int(cutoff.timestamp())}:{min(int(r['first_id']) for r in rows)}"
                    entry = tx.one("ledger_charge_turn", user_id=user_id, turn_id=None, amount=amount, key=key,
                                   reference=json.dumps({"kind": "model_calls", "calls": n, "until": cutoff.isoformat(),
                                                         "metered": amount}))
                    shortfall += int(entry["shortfall"]) if entry else 0
        except Exception:
            failed += 1
            log.exception("settling a user's model calls failed; the next run retries", extra={"user_id": user_id})
            continue
        calls += n
        credits += amount
    pruned = ratelimit.prune()
    with get_db().service() as tx:
        spend_pruned = tx.execute("llm_spend_prune")
    result = HourlyRun(users=len(users), calls=calls, credits=credits, shortfall=shortfall, failed=failed,
                       rate_limit_rows_pruned=pruned, spend_rows_pruned=spend_pruned)
    if users:
        logs.log(log, logging.INFO, "model calls settled", **result.model_dump())
    return result

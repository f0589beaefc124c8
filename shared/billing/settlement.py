"""Turn settlement (ARCHITECTURE §5b) and the reaper that settles turns nobody settled.

`settle_turn(turn_id)` is one transaction, idempotent by turn id:

    lock the turn row → already settled? return what was charged
    lock the balance row (every decision below is made under it)
    a stream whose function died (the reaper's case) and recorded no usage: record what its events show
    sum the turn's usage_events → metered credits (price table: ceil, markup); when the LLM proxy
      recorded model calls for the turn they are its tokens and the bridge's record adds only compute
      seconds; calls made with the user's own key (BYOK) pay no tokens
    + the agent's price: per_task every completed turn; per_session the first completed turn of a
      session that has not paid yet; free none (error/interrupted turns pay only what they used).
      A turn that holds credits pays the price it held at opening, never more.
    → debit (`ledger_charge_turn`): from the turn's own hold and from credits no other turn holds,
      subscription credits first, then top-up; the rest is a recorded shortfall, never a negative
    → the hold ends with the turn's `settled_at` (converted into the debit, the rest released)
    → creator earning = 0.85 × the agent price actually paid (the price is paid before metered usage,
      so a shortfall falls on the metered part; a held price is always paid in full)
    → instance last_active_at → turns.settled_at

The turn lock serialises two settlements of one turn (the second sees `settled_at`); the ledger key
`turn:<id>` is a second guard. Lock order is always turn → balance, and nothing else takes a turn
lock while holding a balance lock, so settlement cannot deadlock with other movements. (Opening a
turn takes the balance lock to place its hold, but on a turn row no one else can see yet.)
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from shared import logs
from shared.billing import ledger
from shared.billing.plans import CREATOR_RATE
from shared.billing.pricing import PriceTable, price_table
from shared.data import Tx, get_db

log = logging.getLogger("openagents.billing")

CHARGEABLE = ("done", "streaming")  # statuses that pay the agent's price (streaming: settled by chat at done)


class Settlement(BaseModel):
    turn_id: str
    user_id: str
    metered_credits: int
    agent_credits: int
    charged: int  # metered + agent: what the turn cost
    paid: int  # what the ledger took (charged − shortfall); `done.credits`
    shortfall: int
    creator_credits: int
    hold_credits: int = 0  # what the turn held since it opened (0: a turn opened without a hold)
    interrupted: bool = False  # this settlement closed a dead stream
    already_settled: bool = False


def creator_share(agent_credits: int) -> int:
    # Integer arithmetic: the platform keeps the fraction of a credit.
    return agent_credits * round(CREATOR_RATE * 100) // 100


def settle_turn(turn_id: str, *, interrupt: bool = False, prices: PriceTable | None = None) -> Settlement | None:
    """Settles one turn in its own transaction; None when there is no such turn."""
    with get_db().service() as tx:
        return settle_turn_in(tx, turn_id, interrupt=interrupt, prices=prices)


def settle_turn_in(tx: Tx, turn_id: str, *, interrupt: bool = False,
                   prices: PriceTable | None = None) -> Settlement | None:
    """Settles inside the caller's service-role transaction (chat settles with its own writes).
    `interrupt`: a turn still `streaming` is closed as `interrupted` (the reaper's case)."""
    turn = tx.one("settle_lock_turn", turn_id=turn_id)
    if turn is None:
        return None
    user_id = str(turn["user_id"])
    key = f"turn:{turn_id}"
    if turn["settled_at"] is not None:
        return _previous(tx, turn_id, user_id, key)

    tx.scalar("ledger_lock", user_id=user_id)
    dead_stream = interrupt and turn["status"] == "streaming"
    status = "interrupted" if dead_stream else turn["status"]
    if dead_stream:
        # Its function died before recording usage; what reached turn_events was spent all the same.
        tx.execute("settle_record_streamed_usage", turn_id=turn_id)
    # Model calls through the LLM proxy are the turn's token usage when it has any (each recorded once
    # by the proxy); the bridge's record then counts only its compute seconds.
    tx.execute("settle_prefer_model_calls", turn_id=turn_id)
    usage = tx.all("settle_turn_usage", turn_id=turn_id)
    metered = (prices or price_table()).metered_credits(usage)
    agent_credits = _agent_price(tx, turn, status)
    total = metered + agent_credits
    hold = int(turn["hold_credits"] or 0)

    shortfall = 0
    if total > 0:
        entry = ledger.charge_turn(tx, user_id, turn_id, total, key, reference={
            "turn_id": turn_id, "session_id": str(turn["session_id"]), "instance_id": str(turn["instance_id"]),
            "agent_id": str(turn["agent_id"]), "pricing_model": turn["pricing_model"], "metered": metered,
            "agent_credits": agent_credits,
            "usage_events": sum(int(r["events"]) for r in usage),
        })
        shortfall = entry.shortfall
    paid = total - shortfall
    # The agent's price is paid first: a shortfall falls on the metered part.
    agent_paid = min(agent_credits, paid)
    earned = 0
    if agent_paid > 0:
        earned = creator_share(agent_paid)
        tx.execute("settle_creator_earning", creator_id=turn["creator_id"], agent_id=turn["agent_id"],
                   payer_id=user_id, turn_id=turn_id, credits=earned)
    tx.execute("settle_touch_instance", instance_id=turn["instance_id"])
    tx.execute("settle_mark_turn", turn_id=turn_id, interrupt=interrupt)
    if shortfall:
        logs.log(log, logging.WARNING, "turn settled with a shortfall", turn_id=turn_id, user_id=user_id,
                 charged=total, shortfall=shortfall, hold=hold)
    return Settlement(turn_id=turn_id, user_id=user_id, metered_credits=metered, agent_credits=agent_credits,
                      charged=total, paid=paid, shortfall=shortfall, creator_credits=earned, hold_credits=hold,
                      interrupted=status != turn["status"])


def _agent_price(tx: Tx, turn: dict[str, Any], status: str) -> int:
    # A held turn pays the price it reserved when it opened (0 when its session had already paid a
    # per-session price); a turn opened without a hold pays the listing's price.
    held = turn["held_at"] is not None
    price = int(turn["hold_agent_credits"] if held else (turn["credits_price"] or 0))
    model = turn["pricing_model"]
    if model == "free" or price <= 0 or status not in CHARGEABLE:
        return 0
    if model == "per_session" and tx.scalar("settle_session_already_paid", session_id=turn["session_id"],
                                            turn_id=turn["id"]):
        return 0
    return price


def _previous(tx: Tx, turn_id: str, user_id: str, key: str) -> Settlement:
    row = tx.one("ledger_entry_by_key", key=key)
    ref = row["reference"] if row else {}
    agent_credits = int(ref.get("agent_credits", 0))
    charged = int(ref.get("amount", 0))
    shortfall = int(row["shortfall"]) if row else 0
    paid = -(int(row["subscription_delta"]) + int(row["topup_delta"])) if row else 0
    return Settlement(turn_id=turn_id, user_id=user_id, metered_credits=int(ref.get("metered", 0)),
                      agent_credits=agent_credits, charged=charged, paid=paid, shortfall=shortfall,
                      creator_credits=creator_share(min(agent_credits, paid)), hold_credits=int(ref.get("hold", 0)),
                      already_settled=True)


class ReapResult(BaseModel):
    settled: int
    interrupted: int
    failed: int


def reap_turns(*, stale_minutes: int | None = None, limit: int = 500) -> ReapResult:
    """Settles finished-but-unsettled turns and closes streams older than `stale_minutes` (their
    function died) as `interrupted`, charging what they used and ending their holds, so a dead
    function's reservation comes back to the user. Each turn is its own transaction, so
    one bad turn neither blocks nor undoes the others; a rerun picks up whatever is left."""
    from shared.config import get_settings

    minutes = stale_minutes or get_settings().BILLING_REAP_AFTER_MINUTES
    prices = price_table()
    with get_db().service() as tx:
        ids = [str(r["id"]) for r in tx.all("reap_candidates", stale_minutes=minutes, limit=limit)]
    settled = interrupted = failed = 0
    for turn_id in ids:
        try:
            with get_db().service() as tx:
                result = settle_turn_in(tx, turn_id, interrupt=True, prices=prices)
        except Exception:
            failed += 1
            log.exception("reaper could not settle a turn", extra={"turn_id": turn_id})
            continue
        if result is not None and not result.already_settled:
            settled += 1
            interrupted += result.interrupted
    return ReapResult(settled=settled, interrupted=interrupted, failed=failed)

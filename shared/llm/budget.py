"""The check before every model call: credits first, then the spend caps (ARCHITECTURE §5a; issue 11
item 3). Nothing reaches a provider unless both pass.

Credits: the user's free credits (balance less what other turns hold; the calling turn's own hold is
for this call) must cover what their model calls owe and are not paid yet — the calling turn's
calls so far and the calls the hourly job has not settled — plus this call's input at list price,
and be at least 1. Otherwise 402, and no provider call.

Spend caps, in credits of model calls (list price × markup, the user's own key counted too: a cap
guards against runaway spend, whoever pays the provider), over fixed UTC windows:

    instance   its own caps (`PATCH /api/instances/{id} {spend_cap}`) or the plan's instance defaults
    user       the plan's user defaults (shared.billing.plans.SPEND_CAPS)
    windows    the clock hour and the day

A call is refused (429, Retry-After = the window's end) when what was spent in a window plus this
call's input would pass the cap. A call already under way always finishes; raising a cap lets the
next one through. The user is notified once per cap and window (`rate_limits` keeps the mark).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from shared import logs, ratelimit
from shared.billing.plans import spend_caps
from shared.billing.pricing import PriceTable, price_table
from shared.data import get_db
from shared.llm import errors
from shared.llm.tokens import Caller

log = logging.getLogger("openagents.llm")


@dataclass(frozen=True, slots=True)
class Cap:
    scope: str  # "instance" | "user"
    window: str  # "hourly" | "daily"
    credits: int


def caps_of(caller: Caller) -> list[Cap]:
    plan = spend_caps(caller.plan, caller.plan_status)
    return [
        Cap("instance", "hourly", caller.cap_hourly if caller.cap_hourly is not None else plan.instance_hourly),
        Cap("instance", "daily", caller.cap_daily if caller.cap_daily is not None else plan.instance_daily),
        Cap("user", "hourly", plan.user_hourly),
        Cap("user", "daily", plan.user_daily),
    ]


def _usd(prices: PriceTable, rows: list[dict[str, Any]], prefix: str = "") -> Decimal:
    return sum((prices.usage_usd(r["model"], int(r[f"{prefix}in" if prefix else "input_tokens"]),
                                 int(r[f"{prefix}out" if prefix else "output_tokens"]), 0) for r in rows), Decimal(0))


def windows(now: datetime) -> tuple[datetime, datetime]:
    """The starts of the UTC clock hour and day `now` falls in (the caps' windows)."""
    hour_start = now.replace(minute=0, second=0, microsecond=0)
    return hour_start, hour_start.replace(hour=0)


def check(caller: Caller, free: int | None, unsettled: list[dict[str, Any]], spent: list[dict[str, Any]],
          model: str, estimated_input: int, *, now: datetime, prices: PriceTable | None = None) -> None:
    """Raises the refusal (a Problem) when this call may not go out. `free`, `unsettled` and `spent`
    are what `shared.llm.opening` read for the call (the user's free credits, their charged calls
    not paid yet by model, their spend this day and hour by model)."""
    prices = prices or price_table()
    hour_start, day_start = windows(now)
    this_call = prices.usage_usd(model, estimated_input, 0, 0)
    owed = prices.credits_for_usd(_usd(prices, unsettled) + this_call)
    if free is None or int(free) < max(owed, 1):
        logs.log(log, logging.INFO, "model call refused: out of credits", instance_id=caller.instance_id,
                 user_id=caller.user_id, free=free, owed=owed)
        raise errors.out_of_credits()
    ends = {"hourly": hour_start + timedelta(hours=1), "daily": day_start + timedelta(days=1)}
    for cap in caps_of(caller):
        column = f"{cap.scope}_{'hour' if cap.window == 'hourly' else 'day'}_"
        spend = prices.credits_for_usd(_usd(prices, spent, column) + this_call)
        if spend > cap.credits:
            retry_after = max(1, int((ends[cap.window] - now).total_seconds()))
            _notify_once(caller, cap, retry_after)
            logs.log(log, logging.INFO, "model call refused: spend cap", instance_id=caller.instance_id,
                     user_id=caller.user_id, scope=cap.scope, window=cap.window, cap=cap.credits, spend=spend)
            raise errors.spend_cap(cap.scope, cap.window, cap.credits, retry_after)


def _notify_once(caller: Caller, cap: Cap, retry_after: int) -> None:
    subject = caller.instance_id if cap.scope == "instance" else caller.user_id
    window_s = 3600 if cap.window == "hourly" else 86_400
    if not ratelimit.first_once(f"spend-cap-notice:{cap.scope}:{cap.window}:{subject}", window_s):
        return
    who = "One of your agents" if cap.scope == "instance" else "Your agents"
    body = (f"{who} reached the {cap.window} spend cap of {cap.credits} credits. Model calls are paused until the "
            f"cap resets in {retry_after // 60 + 1} min" + (", or raise the agent's cap to continue now."
                                                           if cap.scope == "instance" else "."))
    with get_db().service() as tx:
        tx.execute("notify", user_id=caller.user_id, kind="spend_cap", title="Spend cap reached", body=body,
                   data=json.dumps({"scope": cap.scope, "window": cap.window, "cap": cap.credits,
                                    "instance_id": caller.instance_id}))

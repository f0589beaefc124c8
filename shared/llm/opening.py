"""What the proxy reads before a model call goes out, in one statement (issue 14: in front of every
call sat five transactions; now the token's lookup and this).

`private.llm_call_open` (migration 20261201210001), one round trip with its transaction's setup and
COMMIT (`Database.service_once`):
- counts the proxy's rate limit per instance (429 over it; the count stays whatever the outcome, as
  the route's own count did: the route declares `limit_in_handler`);
- finds the call's turn (`shared.llm.metering`: the one the bridge names if it is this instance's,
  else the instance's turn in progress);
- reads the user's free credits, their unsettled calls and this hour's and day's spend, which
  `budget.check` judges in Python with the settlement price table;
- reads the user's own key for the provider (BYOK) from Vault and marks it used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shared import logs, ratelimit
from shared.billing.pricing import PriceTable
from shared.data import get_db
from shared.llm import budget, metering
from shared.llm.providers import Provider
from shared.llm.tokens import Caller


@dataclass(frozen=True, slots=True)
class OpenedCall:
    turn_id: str | None  # the turn the call belongs to, if any
    key: str | None  # the user's own key for the provider (BYOK), else None: the platform's


def open_call(caller: Caller, provider: Provider, model: str, estimated_input: int, named_turn: str | None,
              limit: ratelimit.RateLimit, *, now: datetime | None = None,
              prices: PriceTable | None = None) -> OpenedCall:
    """Counts the call against `limit`, then raises the refusal (a Problem: 429, 402) when it may not
    go out; otherwise the turn it belongs to and the key to send it with."""
    now = now or datetime.now(UTC)
    hour_start, day_start = budget.windows(now)
    rate_limit, rate_window = ratelimit.effective(limit)
    row = get_db().service_once("llm_call_open", user_id=caller.user_id, instance_id=caller.instance_id,
                                named_turn=metering.named_turn(named_turn), provider=provider, hour_start=hour_start,
                                day_start=day_start,
                                rate_key=ratelimit.key_of(limit, caller.instance_id) if rate_limit > 0 else None,
                                rate_limit=rate_limit, rate_window_s=rate_window)
    assert row is not None
    if row["outcome"] == "rate_limited":
        raise ratelimit.refusal_of(limit, int(row["retry_after"]))
    budget.check(caller, row["free"], row["unsettled"], row["spent"], model, estimated_input, now=now, prices=prices)
    key = str(row["key_value"]) if row["key_value"] else None
    if key is not None:
        logs.register_secrets([key])  # in this process's memory now: the log redactor masks it
    return OpenedCall(str(row["turn_id"]) if row["turn_id"] else None, key)

"""Plans and top-ups (ARCHITECTURE §5b) as configuration, and what each plan allows.

Amounts are the design's defaults; the Stripe Price behind each plan or top-up is configuration too
(`STRIPE_PRICES`, see `stripe_price_ids`). Other code asks `plan_limits(plan, status)` for idle
thresholds and features rather than comparing plan names itself.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Literal, NamedTuple

PlanName = Literal["trial", "basic", "pro", "power"]
PaidPlan = Literal["basic", "pro", "power"]
TopupCredits = Literal[600, 2000, 6000, 18000]

USD_CENTS_PER_CREDIT = 1  # 1 credit = $0.01
CREATOR_RATE = 0.85  # creators earn this share of an agent's price
TRIAL_CREDITS = 50
TRIAL_DAYS = 7


# Named tuples rather than frozen dataclasses: the same immutable records read by attribute, at a
# fifth of the cost to declare (~1 ms of a cold start for the four of them as dataclasses).
class Plan(NamedTuple):
    name: PlanName
    price_cents: int  # per month
    monthly_credits: int
    rollover_cap: int  # unused subscription credits carried into the next period, at most
    idle_stop_after: timedelta  # a running/suspended instance idle this long is stopped
    ssh: bool


class Topup(NamedTuple):
    credits: int
    price_cents: int


PLANS: dict[PlanName, Plan] = {
    "trial": Plan("trial", 0, TRIAL_CREDITS, 0, timedelta(hours=2), ssh=False),
    "basic": Plan("basic", 900, 1_000, 0, timedelta(hours=2), ssh=False),
    "pro": Plan("pro", 2_900, 4_000, 500, timedelta(hours=12), ssh=False),
    "power": Plan("power", 7_900, 15_000, 2_000, timedelta(hours=24), ssh=True),
}

TOPUPS: dict[int, Topup] = {
    600: Topup(600, 500),
    2_000: Topup(2_000, 1_500),
    6_000: Topup(6_000, 4_000),
    18_000: Topup(18_000, 10_000),
}


class PlanLimits(NamedTuple):
    plan: PlanName  # the plan whose limits apply (a lapsed subscription falls back to trial limits)
    idle_stop_after: timedelta
    ssh: bool
    monthly_credits: int
    rollover_cap: int


def plan_limits(plan: str, status: str = "active") -> PlanLimits:
    """Limits for a profile's `plan` and `plan_status`. Past-due keeps the plan while Stripe retries
    the payment; a cancelled or expired subscription gets the trial's limits."""
    name: PlanName = plan if plan in PLANS else "trial"
    if status in ("canceled", "expired"):
        name = "trial"
    p = PLANS[name]
    return PlanLimits(p.name, p.idle_stop_after, p.ssh, p.monthly_credits, p.rollover_cap)


def price_key(*, plan: str | None = None, topup: int | None = None) -> str:
    """The key of a plan or top-up in `STRIPE_PRICES`: `basic`, `pro`, `power`, `topup_600`, …"""
    if plan is not None:
        return plan
    return f"topup_{topup}"


def stripe_price_ids(raw: str | None) -> dict[str, str]:
    """`STRIPE_PRICES` (JSON object: price key → Stripe Price id) parsed; unknown keys are refused so a
    typo cannot silently leave a plan unsellable."""
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError("STRIPE_PRICES must be a JSON object of strings")
    known = {k for k in PLANS if k != "trial"} | {price_key(topup=c) for c in TOPUPS}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"STRIPE_PRICES has unknown keys {sorted(unknown)}; known: {sorted(known)}")
    return dict(data)


def plan_for_price(price_id: str | None, lookup_key: str | None, prices: dict[str, str]) -> PaidPlan | None:
    """Which plan a Stripe Price sells: by the configured ids, else by lookup key `openagents_<plan>`."""
    for key, pid in prices.items():
        if pid == price_id and key in PLANS:
            return key  # type: ignore[return-value]
    if lookup_key and lookup_key.startswith("openagents_") and lookup_key[11:] in PLANS and lookup_key[11:] != "trial":
        return lookup_key[11:]  # type: ignore[return-value]
    return None


class SpendCaps(NamedTuple):
    """Default spend caps of a plan (credits of model calls through the LLM proxy), per user and per
    instance, per clock hour and per UTC day. An instance's own caps (`PATCH /api/instances/{id}
    {spend_cap}`) replace the instance defaults; the user's always apply too."""
    user_hourly: int
    user_daily: int
    instance_hourly: int
    instance_daily: int


# About a tenth of the month's credits a day per user: a runaway loop stops long before the balance.
SPEND_CAPS: dict[PlanName, SpendCaps] = {
    "trial": SpendCaps(25, 50, 25, 50),
    "basic": SpendCaps(100, 300, 50, 200),
    "pro": SpendCaps(300, 1_000, 150, 500),
    "power": SpendCaps(1_000, 3_000, 500, 1_500),
}


def spend_caps(plan: str, status: str = "active") -> SpendCaps:
    return SPEND_CAPS[plan_limits(plan, status).plan]

"""Billing for `openagents dev` (and tests): the local Stripe fake with our catalogue in it.

    fake, env = start_stripe_fake(webhook_url="http://127.0.0.1:8080/api/stripe/webhook",
                                  webhook_secret=<STRIPE_WEBHOOK_SECRET>)
    os.environ.update(env)          # STRIPE_SECRET_KEY, STRIPE_API_BASE, STRIPE_WEBHOOK_SECRET, STRIPE_PRICES
    ...
    fake.stop()

The catalogue (a Product + Price per plan and top-up, with lookup keys `openagents_<key>`, and the
Billing Meter the hourly job reports to) is created through the official SDK, exactly as an
operator would set up a real Stripe account.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

from shared.billing.plans import PLANS, TOPUPS, price_key

if TYPE_CHECKING:
    from devstack.emulators.stripe import StripeFake


def create_catalog(client: Any, *, meter_event_name: str = "openagents_credits") -> dict[str, str]:
    """Creates (or finds, by lookup key) the prices for every plan and top-up and the usage meter.
    Returns `STRIPE_PRICES` as a dict (price key → price id)."""
    wanted: dict[str, dict[str, Any]] = {}
    for plan in PLANS.values():
        if plan.name == "trial":
            continue
        wanted[price_key(plan=plan.name)] = {
            "unit_amount": plan.price_cents, "recurring": {"interval": "month"},
            "product_data": {"name": f"OpenAgents {plan.name.title()}"},
            "nickname": f"{plan.name.title()} ({plan.monthly_credits:,} credits/month)",
        }
    for topup in TOPUPS.values():
        wanted[price_key(topup=topup.credits)] = {
            "unit_amount": topup.price_cents,
            "product_data": {"name": f"OpenAgents {topup.credits:,} credits"},
            "nickname": f"{topup.credits:,} credits",
        }
    lookup = {f"openagents_{k}": k for k in wanted}
    existing = client.v1.prices.list({"lookup_keys": list(lookup), "limit": 100})
    prices = {lookup[p.lookup_key]: p.id for p in existing.data if p.lookup_key in lookup}
    for key, spec in wanted.items():
        if key not in prices:
            price = client.v1.prices.create({"currency": "usd", "lookup_key": f"openagents_{key}", **spec})
            prices[key] = price.id
    meters = client.v1.billing.meters.list({"limit": 100})
    if not any(m.event_name == meter_event_name and m.status == "active" for m in meters.data):
        client.v1.billing.meters.create({
            "display_name": "OpenAgents credits used",
            "event_name": meter_event_name,
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"type": "by_id", "event_payload_key": "stripe_customer_id"},
            "value_settings": {"event_payload_key": "value"},
        })
    return prices


def start_stripe_fake(*, webhook_url: str | None = None, webhook_secret: str | None = None, port: int = 0,
                      api_key: str | None = None, deliver_webhooks: bool = True,
                      meter_event_name: str = "openagents_credits") -> tuple[StripeFake, dict[str, str]]:
    """Starts the fake on 127.0.0.1 (`port` 0: any free port), registers `webhook_url` as the webhook
    endpoint signed with `webhook_secret` (generated when not given), creates the catalogue, and
    returns the fake (call `.stop()` when done) and the environment for the platform."""
    from devstack.emulators.stripe import DEFAULT_API_KEY, StripeFake

    key = api_key or DEFAULT_API_KEY
    secret = webhook_secret or "whsec_" + secrets.token_urlsafe(24)
    fake = StripeFake(port=port, webhook_url=webhook_url, webhook_secret=secret if webhook_url else None,
                      deliver_webhooks=deliver_webhooks).start()
    try:
        prices = create_catalog(fake.client(key), meter_event_name=meter_event_name)
    except Exception:
        fake.stop()
        raise
    env = {
        "STRIPE_SECRET_KEY": key,
        "STRIPE_API_BASE": fake.url,
        "STRIPE_WEBHOOK_SECRET": secret,
        "STRIPE_PRICES": json.dumps(prices, separators=(",", ":")),
        "STRIPE_METER_EVENT_NAME": meter_event_name,
    }
    return fake, env

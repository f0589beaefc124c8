"""Checkout and Customer Portal sessions, the Stripe customer behind a user, Connect onboarding.

A user's Stripe customer is created once and stored in `profiles.stripe_customer_id`. Two concurrent
first checkouts both ask Stripe with the same idempotency key (`customer:<user id>`), so Stripe hands
both the same customer, and the conditional update (`… where stripe_customer_id is null`) lets the
first writer win while the other re-reads what was stored. Connect accounts work the same way.
"""

from typing import Any, Self

from pydantic import ConfigDict, Field, model_validator

from shared.billing.plans import TOPUPS, PaidPlan, TopupCredits, price_key, stripe_price_ids
from shared.billing.stripe_client import stripe_client
from shared.data import get_db
from shared.models import Model
from shared.problems import Problem, conflict, forbidden, not_found, unavailable


class CheckoutRequest(Model):
    """Exactly one of `plan` (a subscription) or `topup` (credits, one-off payment)."""

    # The validator below enforces the rule; the schema states it, so the document does too.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [{"required": ["plan"]},
                                                                           {"required": ["topup"]}]})
    plan: PaidPlan | None = Field(default=None, description="basic, pro or power")
    topup: TopupCredits | None = Field(default=None, description="credits to buy: 600, 2000, 6000 or 18000")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.plan is None) == (self.topup is None):
            raise ValueError("give exactly one of `plan` or `topup`")
        return self


class RedirectUrl(Model):
    url: str = Field(description="where to send the browser")


class ConnectLink(Model):
    url: str = Field(description="Stripe's onboarding page (single use, expires in minutes)")
    account_id: str
    payouts_enabled: bool


def _profile(user_id: str) -> dict[str, Any]:
    with get_db().service() as tx:
        p = tx.one("profile_billing", user_id=user_id)
    if p is None:
        raise not_found("profile")
    return p


def _public_url(path: str) -> str:
    from shared.config import get_settings

    return get_settings().public_url.rstrip("/") + path


def ensure_customer(user_id: str, profile: dict[str, Any] | None = None) -> str:
    """The user's Stripe customer id, created on first use."""
    p = profile or _profile(user_id)
    if p["stripe_customer_id"]:
        return str(p["stripe_customer_id"])
    customer = stripe_client().v1.customers.create(
        {"email": p["email"], "metadata": {"user_id": user_id}},
        {"idempotency_key": f"customer:{user_id}"},
    )
    with get_db().service() as tx:
        stored = tx.scalar("profile_set_customer", user_id=user_id, customer_id=customer.id)
        if stored is None:  # someone else stored one first: use theirs
            stored = tx.one("profile_billing", user_id=user_id)["stripe_customer_id"]  # type: ignore[index]
    return str(stored)


def _price_id(key: str) -> str:
    from shared.config import get_settings

    try:
        prices = stripe_price_ids(get_settings().STRIPE_PRICES)
    except ValueError:
        raise unavailable("Billing is not configured correctly (STRIPE_PRICES is invalid).",
                          code="billing-not-configured") from None
    price = prices.get(key)
    if not price:
        raise unavailable(f"Billing is not configured: no Stripe price for `{key}` (STRIPE_PRICES).",
                          code="billing-not-configured")
    return price


def create_checkout(user_id: str, body: CheckoutRequest) -> RedirectUrl:
    client = stripe_client()  # 503 before anything else when Stripe is not configured
    key = price_key(plan=body.plan, topup=body.topup)
    price = _price_id(key)
    p = _profile(user_id)
    if body.plan is not None and p["stripe_subscription_id"] and p["plan_status"] in ("active", "past_due"):
        raise conflict("You already have a subscription; change or cancel it in the billing portal "
                       "(POST /api/billing/portal).", code="subscription-exists")
    customer = ensure_customer(user_id, p)
    metadata: dict[str, str] = {"user_id": user_id, "kind": "plan" if body.plan else "topup"}
    params: dict[str, Any] = {
        "customer": customer,
        "client_reference_id": user_id,
        "line_items": [{"price": price, "quantity": 1}],
        "success_url": _public_url("/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}"),
        "cancel_url": _public_url("/billing?checkout=cancelled"),
    }
    if body.plan is not None:
        metadata["plan"] = body.plan
        params.update(mode="subscription", metadata=metadata,
                      subscription_data={"metadata": {"user_id": user_id, "plan": body.plan}})
    else:
        credits = TOPUPS[body.topup].credits  # type: ignore[index]
        metadata["topup_credits"] = str(credits)
        params.update(mode="payment", metadata=metadata, payment_intent_data={"metadata": metadata})
    session = client.v1.checkout.sessions.create(params)  # type: ignore[arg-type]
    if not session.url:
        raise Problem(502, "Bad Gateway", "Stripe did not return a checkout URL.", code="stripe-error")
    return RedirectUrl(url=session.url)


def create_portal(user_id: str) -> RedirectUrl:
    client = stripe_client()
    customer = ensure_customer(user_id)
    session = client.v1.billing_portal.sessions.create({"customer": customer,
                                                        "return_url": _public_url("/billing")})
    return RedirectUrl(url=session.url)


def start_connect_onboarding(user_id: str) -> ConnectLink:
    """Creators only: an Express account (controller properties, CONTRACTS §C.4), created once, and a
    fresh onboarding link (links are single-use, so every call makes a new one)."""
    from shared.config import get_settings

    p = _profile(user_id)
    if p["role"] not in ("creator", "admin"):
        raise forbidden("Only creators can set up payouts.")
    client = stripe_client()
    account_id = p["connect_account_id"]
    if not account_id:
        account = client.v1.accounts.create(
            {
                "controller": {
                    "fees": {"payer": "application"},
                    "losses": {"payments": "application"},
                    "requirement_collection": "stripe",
                    "stripe_dashboard": {"type": "express"},
                },
                "country": get_settings().STRIPE_CONNECT_COUNTRY,
                "email": p["email"],
                "capabilities": {"transfers": {"requested": True}},
                "metadata": {"user_id": user_id},
            },
            {"idempotency_key": f"connect-account:{user_id}"},
        )
        with get_db().service() as tx:
            account_id = tx.scalar("profile_set_connect_account", user_id=user_id, account_id=account.id)
            if account_id is None:
                account_id = tx.one("profile_billing", user_id=user_id)["connect_account_id"]  # type: ignore[index]
    link = client.v1.account_links.create({
        "account": account_id,
        "type": "account_onboarding",
        "refresh_url": _public_url("/creator/payouts?onboarding=refresh"),
        "return_url": _public_url("/creator/payouts?onboarding=done"),
    })
    return ConnectLink(url=link.url, account_id=str(account_id), payouts_enabled=bool(p["connect_payouts_enabled"]))


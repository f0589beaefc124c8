"""Billing against Stripe's own contracts: the SDK's signature scheme, Stripe's fixture shapes, and the
requests we send (idempotency keys on writes, parameters the SDK's param types know)."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from devstack.emulators.stripe import build_event
from devstack.emulators.stripe.fixtures import load_fixtures
from shared.billing import events
from shared.billing.plans import plan_for_price
from shared.billing.webhook import verify
from shared.problems import Problem
from tests.support import billing_stripe
from tests.support.harness import CANARIES

stripe_fake = billing_stripe.stripe_fake  # the module-scoped fixture, shared

SECRET = CANARIES["STRIPE_WEBHOOK_SECRET"]


def _header(body: bytes, *, secret: str = SECRET, t: int | None = None, scheme: str = "v1") -> str:
    t = int(time.time()) if t is None else t
    sig = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},{scheme}={sig}"


def test_verification_follows_the_sdk_scheme():
    import stripe

    body = b'{"id": "evt_123", "object": "event", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}}'
    header = _header(body)
    # Our own HMAC and the SDK's verifier agree on what a valid header is.
    assert stripe.WebhookSignature.verify_header(body.decode(), header, SECRET, tolerance=300)
    assert verify(body, header)["id"] == "evt_123"
    # Several v1 signatures (secret rotation): any match is enough.
    rotated = f"{_header(body, secret='whsec_old')},v1={header.split('v1=')[1]}"  # noqa: S106 (an old secret on purpose)
    assert verify(body, rotated)["type"] == "invoice.paid"
    for bad in (_header(body, scheme="v0"), _header(body, t=int(time.time()) - 301), _header(body + b" ")):
        with pytest.raises(Problem) as exc:
            verify(body, bad)
        assert exc.value.status == 400


def test_handlers_read_the_shapes_in_stripes_fixtures():
    fx = load_fixtures()
    invoice = fx.raw("invoice")
    # Basil+ invoices name their subscription under parent.subscription_details.
    assert events._invoice_subscription(invoice) == "subscription"
    assert events._invoice_subscription({**invoice, "parent": None, "subscription": "sub_legacy"}) == "sub_legacy"
    line = invoice["lines"]["data"][0]
    assert events._line_price(line) == (None, None)  # the fixture's line has no price_details
    priced = {**line, "pricing": {**line["pricing"], "price_details": {"price": "price_pro", "product": "prod_1"}}}
    assert events._line_price(priced) == ("price_pro", None)
    sub = fx.raw("subscription")
    item = sub["items"]["data"][0]
    assert plan_for_price(item["price"]["id"], item["price"]["lookup_key"], {"pro": item["price"]["id"]}) == "pro"
    assert plan_for_price("price_x", "openagents_power", {}) == "power"
    assert plan_for_price("price_x", "openagents_trial", {}) is None
    event = build_event("charge.refunded", fx.raw("charge"))
    assert event["object"] == "event" and event["data"]["object"]["object"] == "charge"
    assert set(fx.raw("event")) <= set(event)


def test_every_handled_event_type_is_one_stripe_sends():
    # Stripe's event type names are `<resource>.<verb>`; our table must not invent any.
    for name in events.HANDLERS:
        resource = name.rsplit(".", 1)[0]
        assert resource in {"checkout.session", "invoice", "customer.subscription", "charge", "account"}, name


def test_requests_we_send(client, make_user, stripe_fake):
    fake = stripe_fake
    creator = make_user(role="creator")
    assert client.post("/api/billing/checkout", token=creator.token, json_body={"plan": "pro"}).status_code == 200
    assert client.post("/api/platform/connect", token=creator.token).status_code == 200
    sent = fake.requests()
    customers = [r for r in sent if r["method"] == "POST" and r["path"] == "/v1/customers"]
    accounts = [r for r in sent if r["method"] == "POST" and r["path"] == "/v1/accounts"]
    assert customers and all(r["idempotency_key"].startswith("customer:") for r in customers)
    assert accounts and all(r["idempotency_key"].startswith("connect-account:") for r in accounts)
    session = next(r for r in sent if r["path"] == "/v1/checkout/sessions" and r["method"] == "POST")
    assert session["params"]["mode"] == "subscription" and session["params"]["metadata"]["plan"] == "pro"
    account = accounts[-1]["params"]
    assert "type" not in account and account["controller"]["stripe_dashboard"]["type"] == "express"
    # Every request pinned the SDK's API version (the shapes our handlers read).
    import stripe

    assert {r["stripe_version"] for r in sent if r["stripe_version"]} == {stripe.api_version}

"""Contract tests of the local Stripe fake, driven through the official stripe-python SDK.

What is pinned here: the SDK talks to the fake over plain http via `base_addresses` / `stripe.api_base`;
every object the fake serves has exactly its Stripe fixture's top-level keys (and nulls only where
the SDK's types allow them); errors come back as the SDK's own exception classes; idempotency keys
replay and conflict as Stripe's do; webhook signatures verify with `stripe.Webhook.construct_event`.
No database.
"""

from __future__ import annotations

import functools
import threading
import time
import typing
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import stripe
from stripe._object_classes import get_object_class

from devstack.emulators.stripe import StripeFake, build_event, event_body, sign_event, sign_payload
from devstack.emulators.stripe.app import OPERATIONS
from devstack.emulators.stripe.fixtures import load_fixtures
from devstack.emulators.stripe.forms import parse_form
from devstack.emulators.stripe.params import _resolve

API_KEY = "sk_test_contract_suite_0001"
WEBHOOK_SECRET = "whsec_contract_suite_secret"  # noqa: S105 (a test signing secret)
FIXTURES = load_fixtures()


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[StripeFake]:
    with StripeFake(api_key=API_KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean(fake: StripeFake) -> None:
    fake.reset()
    fake.clear_faults()


@pytest.fixture
def client(fake: StripeFake) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": fake.url}, max_network_retries=0)


_HTTP = httpx.Client(trust_env=False)


def raw(
    fake: StripeFake,
    method: str,
    path: str,
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A request as bytes on the wire, for what the SDK hides (headers, exact bodies)."""
    return _HTTP.request(
        method, fake.url + path, data=data, headers={"Authorization": f"Bearer {API_KEY}", **(headers or {})}
    )


class Receiver:
    """A webhook endpoint on loopback that records what it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((body, dict(self.headers)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stripe/webhook"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def monthly_price(client: stripe.StripeClient, amount: int = 900, lookup_key: str = "basic") -> stripe.Price:
    return client.v1.prices.create(
        {
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": "month"},
            "product_data": {"name": lookup_key.title()},
            "lookup_key": lookup_key,
        }
    )


def subscribe(
    client: stripe.StripeClient, fake: StripeFake
) -> tuple[stripe.Customer, stripe.checkout.Session]:
    customer = client.v1.customers.create({"email": "sub@example.com"})
    price = monthly_price(client)
    session = client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "https://app.test/ok",
            "cancel_url": "https://app.test/no",
        }
    )
    fake.complete_checkout(session.id)
    return customer, client.v1.checkout.sessions.retrieve(session.id)


# --- pointing the SDK at the fake ---------------------------------------------------------------


def test_sdk_talks_plain_http_through_client_and_module_level(fake: StripeFake) -> None:
    client = stripe.StripeClient(API_KEY, base_addresses={"api": fake.url})
    created = client.v1.customers.create({"email": "a@example.com"})
    assert created.id.startswith("cus_")

    saved = (stripe.api_key, stripe.api_base, stripe.max_network_retries)
    stripe.api_key, stripe.api_base, stripe.max_network_retries = API_KEY, fake.url, 0
    try:
        assert stripe.Customer.retrieve(created.id).email == "a@example.com"
    finally:
        stripe.api_key, stripe.api_base, stripe.max_network_retries = saved

    sent = fake.requests("/v1/customers")
    assert sent[0]["stripe_version"] == stripe.api_version  # the SDK pins and sends its API version
    assert sent[0]["idempotency_key"]  # and adds an Idempotency-Key to every POST by itself


def test_authentication(fake: StripeFake) -> None:
    for key in ("sk_live_not_accepted", "sk_test_some_other_key"):
        with pytest.raises(stripe.AuthenticationError) as info:
            stripe.StripeClient(key, base_addresses={"api": fake.url}).v1.customers.list()
        assert info.value.http_status == 401
        assert "Invalid API Key provided" in str(info.value.user_message)
    response = httpx.get(fake.url + "/v1/customers", trust_env=False)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_unrecognized_url_and_unknown_parameter(fake: StripeFake, client: stripe.StripeClient) -> None:
    response = raw(fake, "GET", "/v1/nonsense")
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("Unrecognized request URL (GET: /v1/nonsense)")
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.checkout.sessions.create({"mode": "payment", "subscription_data": {"metdata": {"a": "b"}}})  # type: ignore[typeddict-unknown-key]
    assert info.value.code == "parameter_unknown"
    assert info.value.param == "subscription_data[metdata]"


def test_every_operation_checks_params_against_the_sdk_types() -> None:
    missing = [f"{op.method} {op.path}" for op in OPERATIONS if op.params and _resolve(op.params) is None]
    assert missing == []


# --- customers and lists ------------------------------------------------------------------------


def test_customers_crud_and_email_filter(client: stripe.StripeClient) -> None:
    alice = client.v1.customers.create(
        {"email": "alice@example.com", "name": "Alice", "metadata": {"a": "1"}}
    )
    client.v1.customers.create({"email": "bob@example.com"})
    updated = client.v1.customers.update(alice.id, {"metadata": {"a": "", "b": "2"}, "name": "Alice B"})
    assert updated.metadata.to_dict() == {"b": "2"}  # an empty value unsets a key, as on Stripe
    assert client.v1.customers.retrieve(alice.id).name == "Alice B"
    found = client.v1.customers.list({"email": "alice@example.com"})
    assert [c.id for c in found.data] == [alice.id]
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.customers.retrieve("cus_missing")
    assert (info.value.http_status, info.value.code) == (404, "resource_missing")
    assert client.v1.customers.delete(alice.id).deleted is True


def test_list_pagination_and_auto_paging(client: stripe.StripeClient) -> None:
    ids = [client.v1.customers.create({"email": f"c{i}@example.com"}).id for i in range(5)]
    page = client.v1.customers.list({"limit": 2})
    assert [c.id for c in page.data] == ids[::-1][:2] and page.has_more
    assert [c.id for c in page.auto_paging_iter()] == ids[::-1]


# --- checkout, subscriptions, invoices -----------------------------------------------------------


def test_subscription_checkout_completes_into_subscription_and_paid_invoice(
    fake: StripeFake, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create({"email": "buyer@example.com"})
    price = monthly_price(client, 2900, "pro")
    session = client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer.id,
            "client_reference_id": "user-42",
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "https://app.test/billing?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://app.test/billing",
            "metadata": {"user_id": "user-42", "plan": "pro"},
            "subscription_data": {"metadata": {"user_id": "user-42", "plan": "pro"}},
        }
    )
    assert session.url == f"{fake.url}/checkout/{session.id}"
    assert (session.status, session.payment_status, session.amount_total) == ("open", "unpaid", 2900)
    items = client.v1.checkout.sessions.line_items.list(session.id)
    assert [(i.price.id, i.quantity) for i in items.data] == [(price.id, 1)]

    done = fake.complete_checkout(session.id)
    assert [e["type"] for e in done["events"]] == [
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "checkout.session.completed",
    ]
    completed = done["events"][-1]["data"]["object"]
    assert completed["client_reference_id"] == "user-42" and completed["metadata"]["plan"] == "pro"

    session = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["subscription", "invoice"]})
    assert (session.status, session.payment_status) == ("complete", "paid")
    subscription = session.subscription
    assert isinstance(subscription, stripe.Subscription)
    assert subscription.status == "active" and subscription.customer == customer.id
    assert subscription.metadata.to_dict() == {"user_id": "user-42", "plan": "pro"}
    item = subscription["items"].data[0]
    assert item.price.id == price.id and item.current_period_end > item.current_period_start

    invoice = session.invoice
    assert isinstance(invoice, stripe.Invoice)
    assert (invoice.status, invoice.amount_paid, invoice.billing_reason) == (
        "paid",
        2900,
        "subscription_create",
    )
    assert invoice.parent.subscription_details.subscription == subscription.id
    assert invoice.parent.subscription_details.metadata.to_dict()["plan"] == "pro"
    assert invoice.lines.data[0].pricing.price_details.price == price.id
    assert [i.id for i in client.v1.invoices.list({"customer": customer.id}).data] == [invoice.id]
    assert [s.id for s in client.v1.subscriptions.list({"customer": customer.id}).data] == [subscription.id]
    # Events are also Stripe's API objects (handlers may re-fetch them).
    assert client.v1.events.retrieve(done["events"][0]["id"]).type == "customer.subscription.created"


def test_payment_checkout_completes_into_payment_intent_and_charge(
    fake: StripeFake, client: stripe.StripeClient
) -> None:
    session = client.v1.checkout.sessions.create(
        {
            "mode": "payment",
            "customer_email": "topup@example.com",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 1500,
                        "product_data": {"name": "2,000 credits"},
                    },
                }
            ],
            "success_url": "https://app.test/ok",
            "payment_intent_data": {"metadata": {"topup": "2000"}},
        }
    )
    assert session.payment_intent is None  # created only when the customer pays
    done = fake.complete_checkout(session.id)
    assert [e["type"] for e in done["events"]] == [
        "customer.created",
        "payment_intent.succeeded",
        "charge.succeeded",
        "checkout.session.completed",
    ]
    session = client.v1.checkout.sessions.retrieve(session.id)
    intent = client.v1.payment_intents.retrieve(str(session.payment_intent))
    assert (intent.status, intent.amount, intent.metadata.to_dict()) == ("succeeded", 1500, {"topup": "2000"})
    charge = client.v1.charges.retrieve(str(intent.latest_charge))
    assert charge.paid and charge.amount_captured == 1500
    assert client.v1.customers.retrieve(str(session.customer)).email == "topup@example.com"

    refunded = fake.refund_charge(charge.id, amount=500)
    assert [e["type"] for e in refunded["events"]] == ["charge.refunded", "refund.created"]
    assert refunded["events"][0]["data"]["previous_attributes"]["amount_refunded"] == 0
    refund = client.v1.refunds.create({"payment_intent": intent.id})  # the rest, through the API
    assert refund.amount == 1000 and client.v1.charges.retrieve(charge.id).refunded is True


def test_checkout_validation_matches_stripe(client: stripe.StripeClient) -> None:
    one_off = client.v1.prices.create({"currency": "usd", "unit_amount": 500, "product_data": {"name": "x"}})
    recurring = monthly_price(client)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"mode": "subscription", "line_items": [{"price": one_off.id, "quantity": 1}]}, "recurring price"),
        ({"mode": "payment", "line_items": [{"price": recurring.id, "quantity": 1}]}, "`payment` mode"),
        ({"mode": "payment", "line_items": [{"price": one_off.id}]}, "line_items[0][quantity]"),
        (
            {"mode": "payment", "customer": "cus_nope", "line_items": [{"price": one_off.id, "quantity": 1}]},
            "No such customer",
        ),
    ]
    for params, message in cases:
        with pytest.raises(stripe.InvalidRequestError) as info:
            client.v1.checkout.sessions.create(params)  # type: ignore[arg-type]
        assert message in str(info.value.user_message)


def test_portal_session(fake: StripeFake, client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"email": "p@example.com"})
    portal = client.v1.billing_portal.sessions.create(
        {"customer": customer.id, "return_url": "https://app.test/"}
    )
    assert portal.url == f"{fake.url}/billing_portal/{portal.id}" and portal.customer == customer.id
    assert httpx.get(portal.url, trust_env=False).status_code == 200
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.billing_portal.sessions.create({"customer": "cus_nope"})


def test_subscription_lifecycle_events(fake: StripeFake, client: stripe.StripeClient) -> None:
    customer, session = subscribe(client, fake)
    sub_id = str(session.subscription)

    updated = client.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})
    assert updated.cancel_at_period_end and updated.cancel_at == updated["items"].data[0].current_period_end
    event = fake.events("customer.subscription.updated")[-1]
    assert event["data"]["previous_attributes"]["cancel_at_period_end"] is False
    assert event["request"]["id"] and event["request"]["idempotency_key"]  # caused by an API call
    client.v1.subscriptions.update(sub_id, {"cancel_at_period_end": False})

    failed = fake.renew_subscription(sub_id, fail=True)
    types = [e["type"] for e in failed["events"]]
    assert types[-2:] == ["invoice.payment_failed", "customer.subscription.updated"]
    assert client.v1.subscriptions.retrieve(sub_id).status == "past_due"
    paid = fake.pay_invoice(failed["object"]["id"])
    assert [e["type"] for e in paid["events"]] == [
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ]
    assert client.v1.subscriptions.retrieve(sub_id).status == "active"

    canceled = client.v1.subscriptions.cancel(sub_id)
    assert canceled.status == "canceled" and fake.events()[-1]["type"] == "customer.subscription.deleted"
    assert client.v1.subscriptions.list({"customer": customer.id}).data == []  # canceled hidden by default
    assert len(client.v1.subscriptions.list({"customer": customer.id, "status": "all"}).data) == 1
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})


# --- metering -----------------------------------------------------------------------------------


def test_meter_events_reject_a_duplicate_identifier(fake: StripeFake, client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"email": "m@example.com"})
    meter = client.v1.billing.meters.create(
        {
            "display_name": "Credits",
            "event_name": "openagents_credits",
            "default_aggregation": {"formula": "sum"},
        }
    )
    assert [m.id for m in client.v1.billing.meters.list().data] == [meter.id]
    now = int(time.time())
    event = client.v1.billing.meter_events.create(
        {
            "event_name": "openagents_credits",
            "identifier": "usage:u1:2026-01-01T10",
            "payload": {"stripe_customer_id": customer.id, "value": "120"},
            "timestamp": now,
        }
    )
    assert (event.identifier, event.payload["value"]) == ("usage:u1:2026-01-01T10", "120")

    duplicate = {
        "event_name": "openagents_credits",
        "identifier": "usage:u1:2026-01-01T10",
        "payload": {"stripe_customer_id": customer.id, "value": "7"},
    }
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.billing.meter_events.create(duplicate)  # type: ignore[arg-type]
    assert info.value.http_status == 400 and info.value.code is None
    assert str(info.value.user_message) == "An event already exists with identifier usage:u1:2026-01-01T10."
    assert info.value.headers is not None and info.value.headers.get("stripe-should-retry") == "false"

    client.v1.billing.meter_events.create(
        {"event_name": "openagents_credits", "payload": {"stripe_customer_id": customer.id, "value": "30"}}
    )
    assert [e["payload"]["value"] for e in fake.meter_events()] == ["120", "30"]
    summary = client.v1.billing.meters.event_summaries.list(
        meter.id, {"customer": customer.id, "start_time": now - 60, "end_time": now + 60}
    )
    assert summary.data[0].aggregated_value == 150
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.billing.meter_events.create(
            {"event_name": "no_such_meter", "payload": {"stripe_customer_id": customer.id, "value": "1"}}
        )


# --- Connect and idempotency --------------------------------------------------------------------


def test_connect_account_link_and_idempotent_transfer(fake: StripeFake, client: stripe.StripeClient) -> None:
    account = client.v1.accounts.create(
        {
            "country": "US",
            "email": "creator@example.com",
            "controller": {
                "fees": {"payer": "application"},
                "losses": {"payments": "application"},
                "stripe_dashboard": {"type": "express"},
            },
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"user_id": "creator-1"},
        }
    )
    assert account.type == "express" and account.controller.stripe_dashboard.type == "express"
    assert (account.payouts_enabled, account.capabilities.transfers) == (False, "inactive")
    link = client.v1.account_links.create(
        {
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "https://app.test/r",
            "return_url": "https://app.test/done",
        }
    )
    assert link.url.startswith(f"{fake.url}/connect/onboarding/") and link.expires_at > link.created

    params: dict[str, Any] = {
        "amount": 8500,
        "currency": "usd",
        "destination": account.id,
        "metadata": {"payout_id": "p-1"},
    }
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.transfers.create(params)  # type: ignore[arg-type]
    assert info.value.code == "insufficient_capabilities_for_transfer"

    onboarded = fake.onboard_account(account.id)
    assert onboarded["events"][0]["type"] == "account.updated"
    assert onboarded["events"][0]["account"] == account.id
    assert onboarded["events"][0]["data"]["previous_attributes"]["payouts_enabled"] is False
    assert client.v1.accounts.retrieve(account.id).payouts_enabled is True

    first = client.v1.transfers.create(params, {"idempotency_key": "payout-p-1"})  # type: ignore[arg-type]
    second = client.v1.transfers.create(params, {"idempotency_key": "payout-p-1"})  # type: ignore[arg-type]
    assert first.id == second.id and first.metadata["payout_id"] == "p-1"
    assert second.last_response is not None
    assert second.last_response.headers.get("idempotent-replayed") == "true"
    assert [t["id"] for t in fake.transfers()] == [first.id]
    assert [t.id for t in client.v1.transfers.list({"destination": account.id}).data] == [first.id]
    assert len(fake.events("transfer.created")) == 1  # a replay emits nothing

    with pytest.raises(stripe.IdempotencyError) as mismatch:
        client.v1.transfers.create({**params, "amount": 9000}, {"idempotency_key": "payout-p-1"})  # type: ignore[arg-type]
    assert mismatch.value.http_status == 400
    assert "Keys for idempotent requests can only be used with the same parameters" in str(mismatch.value)

    with pytest.raises(stripe.PermissionError):  # Stripe's answer for an account that is not ours
        client.v1.accounts.retrieve("acct_doesnotexist")


def test_lost_response_is_recovered_by_retrying_with_the_same_key(fake: StripeFake) -> None:
    client = stripe.StripeClient(API_KEY, base_addresses={"api": fake.url}, max_network_retries=2)
    account = client.v1.accounts.create({"country": "US", "capabilities": {"transfers": {"requested": True}}})
    fake.onboard_account(account.id)
    # The transfer happens, but the answer is a 500: the SDK retries with its Idempotency-Key.
    fake.add_fault("/v1/transfers", status=500, when="after")
    transfer = client.v1.transfers.create({"amount": 100, "currency": "usd", "destination": account.id})
    assert [t["id"] for t in fake.transfers()] == [transfer.id]
    attempts = fake.requests("/v1/transfers")
    assert [a["status"] for a in attempts] == [500, 200] and attempts[1]["replayed"]
    assert attempts[0]["idempotency_key"] == attempts[1]["idempotency_key"]


# --- webhooks -----------------------------------------------------------------------------------


def test_sign_payload_verifies_with_the_sdk() -> None:
    event = build_event("invoice.paid", FIXTURES.raw("invoice"))
    body = event_body(event)
    header = sign_payload(body, WEBHOOK_SECRET)
    parsed = stripe.Webhook.construct_event(body, header, WEBHOOK_SECRET)
    assert (parsed.id, parsed.type, parsed.data.object.id) == (
        event["id"],
        "invoice.paid",
        event["data"]["object"]["id"],
    )

    tampered = body.replace(b'"invoice.paid"', b'"invoice.void"')
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, header, WEBHOOK_SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, header, "whsec_someone_else")
    stale = sign_payload(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, stale, WEBHOOK_SECRET)
    signed_body, headers = sign_event(event, WEBHOOK_SECRET)
    assert (
        stripe.Webhook.construct_event(signed_body, headers["Stripe-Signature"], WEBHOOK_SECRET).id
        == event["id"]
    )


def test_events_are_delivered_signed_to_registered_endpoints() -> None:
    receiver = Receiver()
    try:
        with StripeFake(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET) as fake:
            client = fake.client()
            customer, session = subscribe(client, fake)
            fake.flush_webhooks()  # customer.created came from an API call: delivered in the background
            delivered = [
                stripe.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET)
                for body, headers in receiver.received
            ]
            assert [e.id for e in delivered] == [e["id"] for e in fake.events()]
            assert delivered[-1].type == "checkout.session.completed"
            assert delivered[-1].data.object.id == session.id
            assert fake.control("GET", f"/_fake/events/{delivered[-1].id}")["deliveries"][0]["ok"] is True

            count = len(receiver.received)
            fake.set_deliver_webhooks(False)  # tests that deliver events themselves
            fake.cancel_subscription(str(session.subscription))
            assert len(receiver.received) == count
            assert fake.events()[-1]["type"] == "customer.subscription.deleted"
            redelivered = fake.control("POST", f"/_fake/events/{fake.events()[-1]['id']}/deliver")
            assert redelivered["deliveries"][0]["status"] == 200 and len(receiver.received) == count + 1
    finally:
        receiver.close()


def test_hosted_checkout_page_pays_and_redirects(fake: StripeFake, client: stripe.StripeClient) -> None:
    price = monthly_price(client)
    session = client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "line_items": [{"price": price.id, "quantity": 1}],
            "customer_email": "page@example.com",
            "success_url": "https://app.test/ok?s={CHECKOUT_SESSION_ID}",
        }
    )
    assert "Pay" in httpx.get(session.url, trust_env=False).text
    paid = httpx.post(session.url, trust_env=False)
    assert paid.status_code == 303 and paid.headers["location"] == f"https://app.test/ok?s={session.id}"
    assert client.v1.checkout.sessions.retrieve(session.id).status == "complete"


# --- "served from fixtures" -----------------------------------------------------------------------


@functools.cache
def _annotations(cls: type) -> dict[str, Any]:
    # The SDK's class annotations are live typing objects (only names inside them are forward
    # references), so read them directly; typing.get_type_hints fails on their TYPE_CHECKING imports.
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        merged.update(getattr(klass, "__annotations__", {}))
    return merged


def _nullable(cls: type, field: str) -> bool:
    hint = _annotations(cls).get(field)
    return hint is None or type(None) in typing.get_args(hint)


def test_every_served_object_has_its_fixture_keys(fake: StripeFake, client: stripe.StripeClient) -> None:
    # Exercise every kind of object the fake makes.
    customer, session = subscribe(client, fake)
    fake.renew_subscription(str(session.subscription))
    payment = client.v1.checkout.sessions.create(
        {
            "mode": "payment",
            "customer": customer.id,
            "success_url": "https://app.test/",
            "line_items": [
                {
                    "quantity": 2,
                    "price_data": {"currency": "usd", "unit_amount": 500, "product_data": {"name": "Top-up"}},
                }
            ],
        }
    )
    charge_id = fake.complete_checkout(payment.id)["events"][1]["data"]["object"]["id"]
    fake.refund_charge(charge_id)
    client.v1.billing_portal.sessions.create({"customer": customer.id})
    client.v1.billing.meters.create(
        {"display_name": "m", "event_name": "m", "default_aggregation": {"formula": "sum"}}
    )
    client.v1.billing.meter_events.create(
        {"event_name": "m", "payload": {"stripe_customer_id": customer.id, "value": "1"}}
    )
    account = client.v1.accounts.create(
        {"type": "express", "capabilities": {"transfers": {"requested": True}}}
    )
    fake.onboard_account(account.id)
    link = client.v1.account_links.create(
        {
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "https://a/",
            "return_url": "https://a/",
        }
    )
    client.v1.transfers.create({"amount": 100, "currency": "usd", "destination": account.id})
    client.v1.webhook_endpoints.create({"url": "https://app.test/hook", "enabled_events": ["*"]})

    # Objects as served over HTTP by their retrieve endpoints.
    routes = {
        "customer": "/v1/customers",
        "price": "/v1/prices",
        "product": "/v1/products",
        "checkout.session": "/v1/checkout/sessions",
        "subscription": "/v1/subscriptions",
        "invoice": "/v1/invoices",
        "invoice_payment": "/v1/invoice_payments",
        "payment_intent": "/v1/payment_intents",
        "charge": "/v1/charges",
        "refund": "/v1/refunds",
        "billing.meter": "/v1/billing/meters",
        "account": "/v1/accounts",
        "transfer": "/v1/transfers",
        "event": "/v1/events",
        "webhook_endpoint": "/v1/webhook_endpoints",
        "billing_portal.session": None,
    }
    served: list[dict[str, Any]] = []
    for resource, path in routes.items():
        stored = fake.control("GET", f"/_fake/objects/{resource}")["data"]
        assert stored, f"the scenario made no {resource}"
        for obj in stored:
            served.append(raw(fake, "GET", f"{path}/{obj['id']}").json() if path else obj)
    served += [link.to_dict(), *fake.meter_events()]
    served += [
        item
        for s in fake.control("GET", "/_fake/objects/subscription")["data"]
        for item in s["items"]["data"]
    ]
    served += [
        line for i in fake.control("GET", "/_fake/objects/invoice")["data"] for line in i["lines"]["data"]
    ]
    served += [raw(fake, "GET", f"/v1/checkout/sessions/{payment.id}/line_items").json()["data"][0]]

    extra_allowed = {"event": {"account"}}  # Stripe adds `account` to events from connected accounts
    seen_types: set[str] = set()
    for obj in served:
        kind = obj["object"]
        seen_types.add(kind)
        fixture_keys = FIXTURES.keys(kind)
        assert set(obj) - extra_allowed.get(kind, set()) == fixture_keys, f"{kind}: {set(obj) ^ fixture_keys}"
        if kind == "event":
            inner = obj["data"]["object"]
            inner_kind = "plan" if inner["object"] == "plan" else inner["object"]
            assert set(inner) == FIXTURES.keys(inner_kind), f"event {obj['type']} data.object"
        sdk_class = get_object_class("V1", kind)
        if sdk_class is not None:
            bad = [k for k, v in obj.items() if v is None and not _nullable(sdk_class, k)]
            assert not bad, f"{kind}: null in non-nullable {bad}"
    assert {"subscription_item", "line_item", "item", "account_link", "billing.meter_event"} <= seen_types


def test_event_types_and_null_fields_agree_with_the_sdk(
    fake: StripeFake, client: stripe.StripeClient
) -> None:
    customer, session = subscribe(client, fake)
    fake.renew_subscription(str(session.subscription), fail=True)
    client.v1.subscriptions.cancel(str(session.subscription))
    known = set(typing.get_args(typing.get_type_hints(stripe.Event)["type"]))
    assert {e["type"] for e in fake.events()} <= known

    for resource in (
        "customer",
        "checkout.session",
        "subscription",
        "invoice",
        "price",
        "product",
        "payment_intent",
        "charge",
    ):
        cls = get_object_class("V1", resource)
        for obj in fake.control("GET", f"/_fake/objects/{resource}")["data"]:
            bad = [k for k, v in obj.items() if v is None and not _nullable(cls, k)]
            assert not bad, f"{resource}: null in non-nullable {bad}"


def test_form_encoding_parser() -> None:
    body = (
        "line_items[0][price]=price_1&line_items[0][quantity]=2&line_items[1][price_data][currency]=usd"
        "&metadata[7]=seven&expand[]=a&expand[]=b&subscription_data[metadata][k]=v&empty="
    )
    assert parse_form(body) == {
        "line_items": [{"price": "price_1", "quantity": "2"}, {"price_data": {"currency": "usd"}}],
        "metadata": {"7": "seven"},  # caller's keys stay keys, even digits
        "expand": ["a", "b"],
        "subscription_data": {"metadata": {"k": "v"}},
        "empty": "",
    }
    assert parse_form(b"") == {}


def test_onboarding_link_page_is_single_use(fake: StripeFake, client: stripe.StripeClient) -> None:
    account = client.v1.accounts.create(
        {"type": "express", "capabilities": {"transfers": {"requested": True}}}
    )
    link = client.v1.account_links.create(
        {
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "https://app.test/refresh",
            "return_url": "https://app.test/return",
        }
    )
    done = _HTTP.post(link.url)
    assert (done.status_code, done.headers["location"]) == (303, "https://app.test/return")
    assert client.v1.accounts.retrieve(account.id).payouts_enabled is True
    assert fake.events()[-1]["type"] == "account.updated"
    again = _HTTP.get(link.url)
    assert (again.status_code, again.headers["location"]) == (303, "https://app.test/refresh")


def test_trial_subscription_starts_trialing_with_a_zero_invoice(
    fake: StripeFake, client: stripe.StripeClient
) -> None:
    price = monthly_price(client)
    session = client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer_email": "trial@example.com",
            "line_items": [{"price": price.id, "quantity": 1}],
            "subscription_data": {"trial_period_days": 7},
        }
    )
    fake.complete_checkout(session.id)
    session = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["subscription"]})
    assert session.payment_status == "no_payment_required"
    subscription = session.subscription
    assert isinstance(subscription, stripe.Subscription)
    assert (
        subscription.status == "trialing" and subscription.trial_end == subscription.trial_start + 7 * 86400
    )
    assert client.v1.invoices.retrieve(str(session.invoice)).amount_paid == 0
    renewed = fake.renew_subscription(subscription.id)
    assert renewed["object"]["amount_paid"] == 900
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"

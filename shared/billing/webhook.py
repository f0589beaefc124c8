"""Stripe webhook intake: verify, record once, defer; the work happens in a durable job.

    signature (SDK, over the raw bytes, 300 s tolerance) → 400 problem when wrong, stale or absent;
        checked by the route declaration (`auth="stripe"`, the `StripeSignature` verifier below)
    body: a Stripe event object, else 400
    insert the event id into stripe_events (`on conflict do nothing`) → a redelivery is a 200 no-op
    defer `stripe_event` in the same transaction → the job exists iff the event row does

Acking fast and working in a job (ack-then-work) keeps Stripe's delivery short and makes a crash
mid-handling harmless: the job retries, and its effects are idempotent (see `events`). Jobs of one
customer share a procrastinate lock, so they run one at a time in arrival order.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from shared import jobs, logs
from shared.billing.stripe_client import webhook_secrets
from shared.data import get_db
from shared.models import Model
from shared.problems import Problem, bad_request, unavailable
from shared.web.inputs import load_json
from shared.web.verifiers import Inbound, register

log = logging.getLogger("openagents.billing")

MAX_WEBHOOK_BYTES = 512 * 1024  # Stripe events are a few KB; large invoices stay far below this
TOLERANCE_S = 300  # Stripe's default (CONTRACTS §C.1)


class Received(Model):
    received: bool = True
    duplicate: bool


def _bad_signature(detail: str) -> Problem:
    return bad_request(detail, code="invalid-signature")


def _malformed() -> Problem:
    return bad_request("The body is not a Stripe event.", code="malformed-event")


def check_signature(raw: bytes, signature: str | None) -> None:
    """Returns if and only if `signature` is Stripe's for these exact bytes and recent enough."""
    import stripe

    secrets = webhook_secrets()
    if not secrets:
        raise unavailable("Billing is not configured (STRIPE_WEBHOOK_SECRET is not set).",
                          code="billing-not-configured")
    if not signature:
        raise _bad_signature("The Stripe-Signature header is missing.")
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(raw, signature, secret, tolerance=TOLERANCE_S)
            return
        except stripe.SignatureVerificationError:
            continue
        except UnicodeDecodeError:  # Stripe signs UTF-8 text: these bytes cannot be one of its events
            raise _malformed() from None
    raise _bad_signature("The Stripe-Signature does not match, or its timestamp is too old.")


def parse_event(raw: bytes) -> dict[str, Any]:
    """The event in a verified body, checked for the fields intake relies on."""
    try:
        data = load_json(raw, where="event")
    except Problem:  # not JSON, nested past any event's depth, or holding what jsonb cannot store (NUL)
        raise _malformed() from None
    if (not isinstance(data, dict) or data.get("object") != "event" or not str(data.get("id", "")).startswith("evt_")
            or not isinstance(data.get("type"), str) or not isinstance(data.get("data"), dict)
            or not isinstance(data["data"].get("object"), dict)):
        raise _malformed()
    return data


def verify(raw: bytes, signature: str | None) -> dict[str, Any]:
    """The event, if and only if `signature` is Stripe's for these exact bytes and recent enough."""
    check_signature(raw, signature)
    return parse_event(raw)


@dataclass(frozen=True, slots=True)
class StripeSignature:
    """`auth="stripe"`: the `Stripe-Signature` header (HMAC-SHA256 of timestamp and raw body)."""

    name: str = "stripe"
    errors: tuple[int, ...] = (400, 503)
    max_body: int | None = MAX_WEBHOOK_BYTES
    scheme: dict[str, Any] = field(default_factory=lambda: {
        "type": "apiKey", "in": "header", "name": "Stripe-Signature",
        "description": "Stripe's webhook signature `t=<unix time>,v1=<HMAC-SHA256 hex>` with "
                       "STRIPE_WEBHOOK_SECRET (or the Connect endpoint's STRIPE_CONNECT_WEBHOOK_SECRET) over "
                       "`<t>.<raw body>`; older than 300 s is refused"})

    def verify(self, inbound: Inbound) -> None:
        check_signature(inbound.body, inbound.headers.get("Stripe-Signature"))


STRIPE_SIGNATURE = register(StripeSignature())


def _lock_key(event: dict[str, Any]) -> str:
    obj = event["data"]["object"]
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    if isinstance(customer, str) and customer:
        return f"stripe-customer:{customer}"
    if obj.get("object") == "account" and obj.get("id"):
        return f"stripe-account:{obj['id']}"
    return f"stripe-event:{event['id']}"


def receive(raw: bytes) -> Received:
    """Records a verified body's event once and defers its job."""
    event = parse_event(raw)
    created = event.get("created")
    with get_db().service() as tx:
        new = tx.scalar("stripe_event_record", id=event["id"], type=event["type"],
                        created=created if isinstance(created, int) else 0, payload=json.dumps(event))
        if new is not None:
            jobs.defer(tx, jobs.STRIPE_EVENT, lock=_lock_key(event), event_id=event["id"])
    logs.log(log, logging.INFO, "stripe event received", event_id=event["id"], type=event["type"],
             duplicate=new is None)
    return Received(duplicate=new is None)

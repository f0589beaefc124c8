"""Webhook events and their `Stripe-Signature`, for the fake and for tests of webhook handlers.

    body = event_body(build_event("invoice.paid", invoice))
    headers = {"Stripe-Signature": sign_payload(body, "whsec_…"), "Content-Type": "application/json"}

The signature is Stripe's scheme (CONTRACTS §C.1): `t=<unix>,v1=hex(HMAC-SHA256(secret, f"{t}.{body}"))`,
keyed by the whole secret string including `whsec_`, exactly what `stripe.Webhook.construct_event`
verifies. Sign the exact bytes you send: verification is over the raw body.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from typing import Any

from .fixtures import Fixtures, load_fixtures, new_id


def sign_payload(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header value for `payload` signed with the endpoint `secret`."""
    body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    ts = int(time.time()) if timestamp is None else int(timestamp)
    signed = f"{ts}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def default_api_version() -> str | None:
    """The API version the installed stripe-python pins (events say which version rendered them)."""
    try:
        from stripe._api_version import _ApiVersion
    except ImportError:  # the fake works without the SDK installed
        return None
    return _ApiVersion.CURRENT


def build_event(
    type: str,
    obj: dict[str, Any],
    *,
    previous_attributes: dict[str, Any] | None = None,
    api_version: str | None = None,
    request_id: str | None = None,
    idempotency_key: str | None = None,
    pending_webhooks: int = 0,
    account: str | None = None,
    created: int | None = None,
    fixtures: Fixtures | None = None,
) -> dict[str, Any]:
    """A v1 snapshot event built from Stripe's `event` fixture with `data.object` = a copy of `obj`.

    `previous_attributes` (the old values of changed fields) is what Stripe sends on `*.updated`;
    `account` is set on events that originate from a connected account, as Stripe does.
    """
    event = (fixtures or load_fixtures()).raw("event")
    data: dict[str, Any] = {"object": copy.deepcopy(obj)}
    if previous_attributes is not None:
        data["previous_attributes"] = copy.deepcopy(previous_attributes)
    event.update(
        id=new_id("event"),
        type=type,
        created=int(time.time()) if created is None else created,
        data=data,
        livemode=False,
        api_version=api_version or default_api_version(),
        pending_webhooks=pending_webhooks,
        # Stripe fills `request` for events caused by an API call; automatic ones have id null.
        request={"id": request_id, "idempotency_key": idempotency_key},
    )
    if account:
        event["account"] = account
    return event


def event_body(event: dict[str, Any]) -> bytes:
    """The bytes Stripe would POST (pretty-printed JSON, like Stripe's deliveries)."""
    return json.dumps(event, indent=2).encode("utf-8")


def sign_event(
    event: dict[str, Any], secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a webhook delivery of `event`, ready to POST to a handler."""
    body = event_body(event)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": sign_payload(body, secret, timestamp),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }
    return body, headers

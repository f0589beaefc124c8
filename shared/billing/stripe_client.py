"""The one seam to Stripe: a `stripe.StripeClient` built from settings.

`STRIPE_API_BASE` points the official SDK at another server (the local fake in dev and tests);
unset, it talks to api.stripe.com. Without `STRIPE_SECRET_KEY` billing is "not configured": routes
answer 503 and jobs skip their Stripe half. The SDK retries network errors and 409/5xx itself, and
every write we send carries an idempotency key, so those retries (and job retries) are safe.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from shared.problems import Problem, unavailable

if TYPE_CHECKING:
    import stripe

_clients: dict[tuple[str, str | None], stripe.StripeClient] = {}
_lock = threading.Lock()


def billing_not_configured() -> Problem:
    return unavailable("Billing is not configured on this deployment (STRIPE_SECRET_KEY is not set).",
                       code="billing-not-configured")


def is_configured() -> bool:
    from shared.config import get_settings

    key = get_settings().STRIPE_SECRET_KEY
    return bool(key and key.get_secret_value())


def stripe_client() -> stripe.StripeClient:
    """The client for the current settings (cached per key and base), or the 503 problem."""
    from shared.config import get_settings

    s = get_settings()
    key = s.STRIPE_SECRET_KEY.get_secret_value() if s.STRIPE_SECRET_KEY else ""
    if not key:
        raise billing_not_configured()
    if s.OPENAGENTS_ENV == "test" and not s.STRIPE_API_BASE:
        # Tests carry a canary key and must never reach api.stripe.com: only a local fake.
        raise unavailable("Billing is not configured for tests (STRIPE_API_BASE must point at the fake).",
                          code="billing-not-configured")
    cache_key = (key, s.STRIPE_API_BASE)
    client = _clients.get(cache_key)
    if client is None:
        with _lock:
            client = _clients.get(cache_key)
            if client is None:
                import stripe

                bases: dict[str, str] = {}
                if s.STRIPE_API_BASE:
                    base = s.STRIPE_API_BASE.rstrip("/")
                    bases = {"api": base, "connect": base, "files": base, "meter_events": base}
                client = stripe.StripeClient(key, base_addresses=bases, max_network_retries=2)  # type: ignore[arg-type]
                _clients[cache_key] = client
    return client


def webhook_secrets() -> tuple[str, ...]:
    """The signing secrets an event may be signed with: the platform endpoint's, then the Connect
    endpoint's (Stripe signs events of connected accounts, such as a creator's `account.updated`,
    with the secret of the endpoint made with `connect=true`, which is a different one)."""
    from shared.config import get_settings

    s = get_settings()
    found = (s.STRIPE_WEBHOOK_SECRET, s.STRIPE_CONNECT_WEBHOOK_SECRET)
    return tuple(v.get_secret_value() for v in found if v is not None and v.get_secret_value())

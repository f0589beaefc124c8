"""A local, stateful Stripe API fake that the official `stripe` SDK talks to (ARCHITECTURE §2).

Objects are Stripe's own fixtures (`stripe-fixtures3.json`) with fields overlaid; webhook events are
really signed. Point the SDK at `StripeFake().start().url`:

    stripe.StripeClient(key, base_addresses={"api": url})   # or: stripe.api_base = url

Run standalone with `python -m devstack.emulators.stripe --port 12111`.
"""

from .server import DEFAULT_API_KEY, StripeFake
from .signing import build_event, event_body, sign_event, sign_payload

__all__ = ["DEFAULT_API_KEY", "StripeFake", "build_event", "event_body", "sign_event", "sign_payload"]

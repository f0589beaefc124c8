"""The Stripe webhook: the declaration verifies the raw body's signature before the handler runs."""

from __future__ import annotations

from shared.billing import webhook
from shared.web import RequestContext, Router, create_app

router = Router("stripe_webhook")


@router.post("/api/stripe/webhook", auth="stripe", response=webhook.Received,
             max_body=webhook.MAX_WEBHOOK_BYTES, errors=(400, 413, 503))
def stripe_webhook(ctx: RequestContext) -> webhook.Received:
    """Stripe events (signed with `Stripe-Signature`); each event id is handled once."""
    return webhook.receive(ctx.verified_body)


app = create_app(__name__, [router])

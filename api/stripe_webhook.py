"""The Stripe webhook: the raw body is verified before anything else reads it."""

from __future__ import annotations

from flask import request

from shared.billing import webhook
from shared.problems import Problem
from shared.web import RequestContext, Router, create_app

router = Router("stripe_webhook")


@router.post("/api/stripe/webhook", auth="none", response=webhook.Received, max_body=webhook.MAX_WEBHOOK_BYTES,
             errors=(400, 413, 503))
def stripe_webhook(ctx: RequestContext) -> webhook.Received:
    """Stripe events (signed with `Stripe-Signature`); each event id is handled once."""
    raw = request.get_data(cache=False)
    if len(raw) > webhook.MAX_WEBHOOK_BYTES:  # a chunked body has no Content-Length to check up front
        raise Problem(413, "Content Too Large", f"The body may be at most {webhook.MAX_WEBHOOK_BYTES} bytes.",
                      code="body-too-large")
    return webhook.receive(raw, request.headers.get("Stripe-Signature"))


app = create_app(__name__, [router])

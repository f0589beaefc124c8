"""The Stripe webhook."""

from __future__ import annotations

from shared.web import Router, create_app

router = Router("stripe_webhook")

app = create_app(__name__, [router])

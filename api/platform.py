"""Platform routes."""

from __future__ import annotations

from shared.billing import checkout
from shared.web import RequestContext, Router, create_app

router = Router("platform")


@router.post("/api/platform/connect", response=checkout.ConnectLink, errors=(403, 404, 503))
def connect_payouts(ctx: RequestContext) -> checkout.ConnectLink:
    """Creators: start (or resume) Stripe Connect Express onboarding for payouts."""
    return checkout.start_connect_onboarding(ctx.user_id)


app = create_app(__name__, [router])

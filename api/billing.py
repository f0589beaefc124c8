"""Billing routes: credits and usage, Checkout and the Customer Portal."""

from __future__ import annotations

from shared.billing import checkout, ledger
from shared.pagination import PageQuery
from shared.web import RequestContext, Router, create_app

router = Router("billing")


@router.get("/api/credits", query=PageQuery, response=ledger.Credits, errors=(400, 404))
def get_credits(ctx: RequestContext, query: PageQuery) -> ledger.Credits:
    """Balance (subscription credits with their expiry, top-up credits), and a page of the ledger."""
    return ledger.credits(ctx.user, query)


@router.get("/api/usage", query=ledger.UsageQuery, response=ledger.Usage, errors=(400,))
def get_usage(ctx: RequestContext, query: ledger.UsageQuery) -> ledger.Usage:
    """Usage and credits charged per agent and UTC day (`from`/`to` inclusive, at most 366 days)."""
    return ledger.usage(ctx.user, query)


@router.post("/api/billing/checkout", body=checkout.CheckoutRequest, response=checkout.RedirectUrl,
             errors=(404, 409, 503))
def create_checkout(ctx: RequestContext, body: checkout.CheckoutRequest) -> checkout.RedirectUrl:
    """A Stripe Checkout Session for a plan (`{plan}`) or a credit top-up (`{topup}`)."""
    return checkout.create_checkout(ctx.user_id, body)


@router.post("/api/billing/portal", response=checkout.RedirectUrl, errors=(404, 503))
def create_portal(ctx: RequestContext) -> checkout.RedirectUrl:
    """A Stripe Customer Portal session (change plan, payment method, invoices, cancel)."""
    return checkout.create_portal(ctx.user_id)


app = create_app(__name__, [router])

"""Bare hosted pages behind the urls the fake hands out, so `make dev` can be clicked through.

`/checkout/{id}` (Pay → complete → redirect to success_url with `{CHECKOUT_SESSION_ID}` filled in, as
Stripe does), `/billing_portal/{id}` (subscriptions, cancel at period end, back to return_url),
`/connect/onboarding/{token}` (finish onboarding → return_url; a used or expired link goes to
refresh_url), `/invoice/{id}`. Webhooks caused here are delivered before the redirect.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .context import Call, Runtime
from .errors import StripeError
from .resources import checkout, connect, subscriptions


def routes() -> list[BaseRoute]:
    return [
        Route("/checkout/{id}", _checkout_page, methods=["GET"]),
        Route("/checkout/{id}", _checkout_pay, methods=["POST"]),
        Route("/billing_portal/{id}", _portal_page, methods=["GET"]),
        Route("/billing_portal/{id}/cancel/{subscription}", _portal_cancel, methods=["POST"]),
        Route("/connect/onboarding/{token}", _onboarding_page, methods=["GET"]),
        Route("/connect/onboarding/{token}", _onboarding_done, methods=["POST"]),
        Route("/invoice/{id}", _invoice_page, methods=["GET"]),
        Route("/invoice/{id}/pdf", _invoice_page, methods=["GET"]),
    ]


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:sans-serif;max-width:40em;margin:2em auto'><p><small>Stripe fake "
        f"(test mode)</small></p><h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )


def _money(amount: int | None, currency: str | None) -> str:
    return f"{(amount or 0) / 100:.2f} {(currency or '').upper()}"


async def _act(request: Request, action: Callable[[Call], Any]) -> Any:
    """Run a state change like a control does and deliver its webhooks before answering."""
    runtime: Runtime = request.app.state.fake
    call = Call(store=runtime.store, base_url=str(request.base_url))
    result = action(call)
    task = runtime.deliverer.schedule(call.emitted)
    if task is not None:
        await task
    return result


async def _checkout_page(request: Request) -> Response:
    store = request.app.state.fake.store
    session = store.objects.get("checkout.session", {}).get(request.path_params["id"])
    if session is None:
        return _page("Checkout not found", "", 404)
    items = "".join(
        f"<li>{html.escape(str(i['description']))} × {i['quantity']}: {_money(i['amount_total'], i['currency'])}</li>"
        for i in store.checkout_items.get(session["id"], [])
    )
    body = f"<p>Mode: {session['mode']} · status: {session['status']}</p><ul>{items}</ul>"
    body += f"<p>Total: <b>{_money(session['amount_total'], session['currency'])}</b></p>"
    if session["status"] == "open":
        body += "<form method='post'><button type='submit'>Pay</button></form>"
        if session["cancel_url"]:
            body += f"<p><a href='{html.escape(session['cancel_url'])}'>Cancel</a></p>"
    return _page("Checkout", body)


async def _checkout_pay(request: Request) -> Response:
    session_id = request.path_params["id"]
    try:
        session = await _act(request, lambda call: checkout.complete(call, session_id))
    except StripeError as exc:
        return _page("Checkout", f"<p>{html.escape(exc.message)}</p>", exc.status)
    if session["success_url"]:
        return RedirectResponse(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id), 303)
    return _page("Paid", "<p>Payment complete.</p>")


async def _portal_page(request: Request) -> Response:
    store = request.app.state.fake.store
    portal = store.objects.get("billing_portal.session", {}).get(request.path_params["id"])
    if portal is None:
        return _page("Portal not found", "", 404)
    rows = []
    for sub in store.all("subscription"):
        if sub["customer"] != portal["customer"]:
            continue
        row = f"{sub['id']}: {sub['status']}" + (
            " (cancels at period end)" if sub["cancel_at_period_end"] else ""
        )
        if sub["status"] in ("active", "trialing", "past_due") and not sub["cancel_at_period_end"]:
            row += (
                f"<form method='post' action='/billing_portal/{portal['id']}/cancel/{sub['id']}' "
                "style='display:inline'> <button>Cancel plan</button></form>"
            )
        rows.append(f"<li>{row}</li>")
    body = f"<ul>{''.join(rows) or '<li>No subscriptions</li>'}</ul>"
    if portal["return_url"]:
        body += f"<p><a href='{html.escape(portal['return_url'])}'>Return</a></p>"
    return _page("Billing", body)


async def _portal_cancel(request: Request) -> Response:
    portal_id, sub_id = request.path_params["id"], request.path_params["subscription"]

    def cancel(call: Call) -> Any:
        subscription = call.store.get("subscription", sub_id)
        changes = subscriptions.cancel_at_period_end_changes(subscription, True)
        return subscriptions.set_fields(call, subscription, changes)

    try:
        await _act(request, cancel)
    except StripeError as exc:
        return _page("Billing", f"<p>{html.escape(exc.message)}</p>", exc.status)
    return RedirectResponse(f"/billing_portal/{portal_id}", 303)


def _link(request: Request) -> dict[str, Any] | None:
    return request.app.state.fake.store.account_links.get(request.path_params["token"])


async def _onboarding_page(request: Request) -> Response:
    link = _link(request)
    if link is None:
        return _page("Link not found", "", 404)
    if link["used"] or link["expires_at"] < time.time():
        return RedirectResponse(link["refresh_url"] or "/", 303)
    return _page(
        "Connect onboarding",
        f"<p>Account {link['account']}</p>"
        "<form method='post'><button type='submit'>Complete onboarding</button></form>",
    )


async def _onboarding_done(request: Request) -> Response:
    link = _link(request)
    if link is None:
        return _page("Link not found", "", 404)
    if link["used"] or link["expires_at"] < time.time():
        return RedirectResponse(link["refresh_url"] or "/", 303)
    link["used"] = True  # account links are single-use
    await _act(request, lambda call: connect.onboard(call, call.store.get("account", link["account"])))
    return RedirectResponse(link["return_url"] or "/", 303)


async def _invoice_page(request: Request) -> Response:
    invoice = request.app.state.fake.store.objects.get("invoice", {}).get(request.path_params["id"])
    if invoice is None:
        return _page("Invoice not found", "", 404)
    return _page(
        f"Invoice {invoice['number']}",
        f"<p>Status: {invoice['status']} · total {_money(invoice['total'], invoice['currency'])}</p>",
    )

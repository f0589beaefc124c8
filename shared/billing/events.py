"""What each Stripe event does to our data, run by the `stripe_event` job exactly once per event.

Exactly once: the job locks the event's `stripe_events` row and skips it when `processed_at` is set;
the handler's writes and `processed_at` commit together, so a crash leaves the event unprocessed
and the retry starts from scratch. Every ledger movement also has its own idempotency key
(`topup:<checkout session>`, `invoice:<invoice>`, `clawback:<payment intent>:<total>`), so even a
second, distinct event about the same object cannot credit twice.

Out of order: Stripe does not promise order, so handlers whose outcome depends on the latest state
re-fetch it (subscription, invoice, charge, account) instead of trusting the event's snapshot.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared import audit, logs
from shared.billing import ledger
from shared.billing.plans import PLANS, TOPUPS, PaidPlan, plan_for_price, stripe_price_ids
from shared.billing.stripe_client import is_configured, stripe_client
from shared.data import Tx, get_db

log = logging.getLogger("openagents.billing")

Obj = dict[str, Any]
Handler = Callable[[Tx, Obj, Obj], None]

# Stripe subscription status → our plan_status (None: leave the profile alone).
_STATUS: dict[str, str | None] = {
    "active": "active", "trialing": "active", "past_due": "past_due", "unpaid": "past_due",
    "paused": "past_due", "canceled": "canceled", "incomplete_expired": "canceled", "incomplete": None,
}


def _plain(obj: Any) -> Obj:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _prices() -> dict[str, str]:
    from shared.config import get_settings

    return stripe_price_ids(get_settings().STRIPE_PRICES)


def _user_for(tx: Tx, customer_id: str | None, metadata: Obj | None = None) -> str | None:
    if customer_id:
        p = tx.one("profile_by_customer", customer_id=customer_id)
        if p is not None:
            return str(p["id"])
    user_id = (metadata or {}).get("user_id")
    if user_id:
        p = tx.one("profile_billing", user_id=user_id)
        if p is not None:
            if customer_id and not p["stripe_customer_id"]:
                tx.execute("profile_set_customer", user_id=user_id, customer_id=customer_id)
            return str(p["id"])
    return None


# --- subscriptions ---------------------------------------------------------------------------------

def _subscription_plan(sub: Obj) -> tuple[PaidPlan | None, datetime | None, datetime | None]:
    prices = _prices()
    for item in (sub.get("items") or {}).get("data") or []:
        price = item.get("price") or {}
        plan = plan_for_price(price.get("id"), price.get("lookup_key"), prices)
        if plan:
            return plan, _ts(item.get("current_period_start")), _ts(item.get("current_period_end"))
    meta_plan = (sub.get("metadata") or {}).get("plan")
    return (meta_plan if meta_plan in PLANS and meta_plan != "trial" else None), None, None


def apply_subscription(tx: Tx, user_id: str, sub: Obj) -> None:
    """Makes the profile say what Stripe's current subscription says (always the re-fetched one)."""
    profile = tx.one("profile_lock", user_id=user_id)
    if profile is None:
        return
    status = _STATUS.get(sub.get("status", ""))
    ours = profile["stripe_subscription_id"]
    if ours and ours != sub["id"] and status in (None, "canceled"):
        return  # an old subscription ending says nothing about the current one
    if status is None:
        return
    plan, _, period_end = _subscription_plan(sub)
    tx.execute("profile_set_subscription", user_id=user_id, subscription_id=sub["id"],
               plan=plan or profile["plan"], plan_status=status,
               period_end=period_end or profile["plan_period_end"])
    if (plan or profile["plan"], status) != (profile["plan"], profile["plan_status"]):
        audit.record(tx, user_id, "plan.changed", f"user:{user_id}",
                     {"from": profile["plan"], "to": plan or profile["plan"], "from_status": profile["plan_status"],
                      "status": status, "subscription": sub["id"]})


def on_subscription_changed(tx: Tx, obj: Obj, event: Obj) -> None:
    sub = _plain(stripe_client().v1.subscriptions.retrieve(obj["id"]))
    user_id = _user_for(tx, _id(sub.get("customer")), sub.get("metadata"))
    if user_id:
        apply_subscription(tx, user_id, sub)


def on_checkout_completed(tx: Tx, session: Obj, event: Obj) -> None:
    meta = session.get("metadata") or {}
    user_id = _user_for(tx, _id(session.get("customer")),
                        {"user_id": meta.get("user_id") or session.get("client_reference_id")})
    if user_id is None:
        logs.log(log, logging.WARNING, "checkout for an unknown customer", session=session.get("id"))
        return
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        return  # async payment methods: checkout.session.async_payment_succeeded follows
    if session.get("mode") == "payment":
        credits = int(meta.get("topup_credits") or 0)
        if credits not in TOPUPS:
            logs.log(log, logging.WARNING, "checkout payment is not one of our top-ups", session=session.get("id"))
            return
        ledger.topup(tx, user_id, credits, f"topup:{session['id']}", {
            "checkout_session": session["id"], "payment_intent": _id(session.get("payment_intent")),
            "amount_total": session.get("amount_total"), "currency": session.get("currency"), "credits": credits,
        })
    elif session.get("mode") == "subscription" and session.get("subscription"):
        sub = _plain(stripe_client().v1.subscriptions.retrieve(_id(session["subscription"])))  # type: ignore[arg-type]
        apply_subscription(tx, user_id, sub)


# --- invoices --------------------------------------------------------------------------------------

def _invoice_subscription(invoice: Obj) -> str | None:
    details = ((invoice.get("parent") or {}).get("subscription_details") or {})
    return _id(details.get("subscription")) or _id(invoice.get("subscription"))


def _line_price(line: Obj) -> tuple[str | None, str | None]:
    pricing = (line.get("pricing") or {}).get("price_details") or {}
    price = pricing.get("price") or line.get("price")
    if isinstance(price, dict):
        return price.get("id"), price.get("lookup_key")
    return price, None


def _invoice_lines(invoice: Obj) -> list[Obj]:
    lines = invoice.get("lines") or {}
    data = list(lines.get("data") or [])
    if lines.get("has_more"):
        data = [_plain(x) for x in stripe_client().v1.invoices.line_items.list(invoice["id"], {"limit": 100}).auto_paging_iter()]
    return data


def on_invoice_paid(tx: Tx, invoice: Obj, event: Obj) -> None:
    sub_id = _invoice_subscription(invoice)
    if not sub_id:
        return  # not a subscription invoice
    meta = ((invoice.get("parent") or {}).get("subscription_details") or {}).get("metadata") or {}
    user_id = _user_for(tx, _id(invoice.get("customer")), meta)
    if user_id is None:
        logs.log(log, logging.WARNING, "paid invoice for an unknown customer", invoice=invoice.get("id"))
        return
    prices = _prices()
    new_plan: Obj | None = None
    old_plan: str | None = None
    for line in _invoice_lines(invoice):
        plan = plan_for_price(*_line_price(line), prices)
        if plan is None:
            continue
        if int(line.get("amount") or 0) >= 0 and new_plan is None:
            new_plan = {"plan": plan, "period": line.get("period") or {}}
        elif int(line.get("amount") or 0) < 0:
            old_plan = plan  # proration credit for the plan being left
    if new_plan is None and meta.get("plan") in PLANS:
        new_plan = {"plan": meta["plan"], "period": {"start": invoice.get("period_start"), "end": invoice.get("period_end")}}
    if new_plan is None:
        logs.log(log, logging.WARNING, "paid invoice sells no known plan", invoice=invoice.get("id"))
    else:
        sold = PLANS[new_plan["plan"]]
        start, end = _ts(new_plan["period"].get("start")), _ts(new_plan["period"].get("end"))
        reference = {"invoice": invoice["id"], "subscription": sub_id, "plan": sold.name,
                     "billing_reason": invoice.get("billing_reason")}
        if invoice.get("billing_reason") == "subscription_update" and old_plan:
            # A mid-period upgrade paid now: top the period up to the new plan's allowance, keep
            # everything already held (same period end, nothing expires).
            extra = max(sold.monthly_credits - PLANS[old_plan].monthly_credits, 0)  # type: ignore[index]
            ledger.grant_subscription(tx, user_id, credits=extra, rollover_cap=2**31 - 1,
                                      period_start=start or datetime.now(UTC), period_end=end,  # type: ignore[arg-type]
                                      key=f"invoice:{invoice['id']}", reference={**reference, "upgrade_from": old_plan})
        elif end is not None:
            ledger.grant_subscription(tx, user_id, credits=sold.monthly_credits, rollover_cap=sold.rollover_cap,
                                      period_start=start or end, period_end=end,
                                      key=f"invoice:{invoice['id']}", reference=reference)
    # The profile follows Stripe's current subscription (this may be the first event we see of it).
    apply_subscription(tx, user_id, _plain(stripe_client().v1.subscriptions.retrieve(sub_id)))


def on_invoice_payment_failed(tx: Tx, invoice: Obj, event: Obj) -> None:
    sub_id = _invoice_subscription(invoice)
    if not sub_id:
        return
    user_id = _user_for(tx, _id(invoice.get("customer")))
    if user_id is None:
        return
    current = _plain(stripe_client().v1.invoices.retrieve(invoice["id"]))
    if current.get("status") in ("paid", "void"):
        return  # a later attempt already succeeded (or it was voided): old news
    profile = tx.one("profile_lock", user_id=user_id)
    if profile is None or profile["stripe_subscription_id"] not in (None, sub_id):
        return
    sub = _plain(stripe_client().v1.subscriptions.retrieve(sub_id))
    if sub.get("status") in ("canceled", "incomplete_expired"):
        apply_subscription(tx, user_id, sub)
        return
    tx.execute("profile_set_plan_status", user_id=user_id, plan_status="past_due")
    if profile["plan_status"] != "past_due":
        audit.record(tx, user_id, "plan.changed", f"user:{user_id}",
                     {"from_status": profile["plan_status"], "status": "past_due", "invoice": invoice["id"]})
    amount = int(current.get("amount_due") or 0)
    retry = _ts(current.get("next_payment_attempt"))
    body = f"We could not collect ${amount / 100:.2f} for your plan."
    body += f" Stripe will try again on {retry:%Y-%m-%d}." if retry else ""
    body += " Update your payment method in the billing portal to keep your plan."
    tx.execute("notify", user_id=user_id, kind="billing.payment_failed", title="Your payment failed", body=body,
               data=json.dumps({"invoice": invoice["id"], "hosted_invoice_url": current.get("hosted_invoice_url"),
                                "event": event.get("id")}))


# --- refunds and Connect ---------------------------------------------------------------------------

def on_charge_refunded(tx: Tx, obj: Obj, event: Obj) -> None:
    charge = _plain(stripe_client().v1.charges.retrieve(obj["id"]))
    pi = _id(charge.get("payment_intent"))
    if not pi:
        return
    topup = tx.one("topup_for_payment_intent", payment_intent=pi)
    if topup is None:
        return  # not a top-up (plan refunds do not claw back credits)
    amount = int(charge.get("amount") or 0)
    refunded = min(int(charge.get("amount_refunded") or 0), amount)
    if amount <= 0 or refunded <= 0:
        return
    target = int(topup["credits"]) * refunded // amount
    for entry in ledger.clawback_topup(tx, str(topup["user_id"]), pi, target,
                                       {"charge": charge["id"], "amount_refunded": refunded, "amount": amount}):
        if entry.shortfall and not entry.duplicate:
            logs.log(log, logging.WARNING, "refund clawed back credits already spent", user_id=str(topup["user_id"]),
                     shortfall=entry.shortfall)


def on_account_updated(tx: Tx, obj: Obj, event: Obj) -> None:
    account = _plain(stripe_client().v1.accounts.retrieve(obj["id"]))
    tx.execute("profile_set_payouts_enabled", account_id=account["id"],
               enabled=bool(account.get("payouts_enabled")))


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": on_checkout_completed,
    "checkout.session.async_payment_succeeded": on_checkout_completed,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_failed": on_invoice_payment_failed,
    "customer.subscription.created": on_subscription_changed,
    "customer.subscription.updated": on_subscription_changed,
    "customer.subscription.deleted": on_subscription_changed,
    "charge.refunded": on_charge_refunded,
    "account.updated": on_account_updated,
}


def process_event(event_id: str) -> str:
    """Handles one recorded event, once. Returns what happened (for the job's log)."""
    with get_db().service() as tx:
        row = tx.one("stripe_event_lock", id=event_id)
        if row is None:
            return "unknown event"
        if row["processed_at"] is not None:
            return "already processed"
        handler = HANDLERS.get(row["type"])
        outcome = "ignored"
        if handler is not None:
            if not is_configured():
                raise RuntimeError("STRIPE_SECRET_KEY is not set; cannot handle Stripe events")
            handler(tx, row["payload"]["data"]["object"], row["payload"])
            outcome = "handled"
        tx.execute("stripe_event_done", id=event_id)
    return outcome

"""Subscriptions and their invoices: start, update, cancel, renew, and invoice payment outcomes.

Shapes follow the API version stripe-python 16 pins (basil and later): billing periods live on
subscription items, an invoice names its subscription under `parent.subscription_details`, its
lines name their price under `pricing.price_details`, and payments hang off `invoice_payment`s.
"""

from __future__ import annotations

import time
from typing import Any

from ..context import Call
from ..errors import StripeError
from ..fixtures import new_id
from ..listing import list_envelope, paginate
from ..params import as_bool, as_int, as_list, merge_metadata, require
from ..store import Store, changed
from . import payments
from .catalog import add_interval, plan_for

_ACTIVE_LIKE = ("active", "trialing", "past_due", "unpaid", "incomplete", "paused")
_CANCELED_ONLY_MESSAGE = "A canceled subscription can only update its cancellation_details and metadata."


# --- starting a subscription (checkout completion, or POST /v1/subscriptions) -------------------


def start(
    call: Call,
    *,
    customer: dict[str, Any],
    lines: list[tuple[dict[str, Any], int]],
    metadata: dict[str, str] | None = None,
    trial_days: int | None = None,
    description: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An active (or trialing) subscription and its first invoice, paid; events as Stripe sends them."""
    store = call.store
    now = int(time.time())
    recurring = [price for price, _ in lines if price["type"] == "recurring"]
    if not recurring:
        raise StripeError.invalid(
            "You must provide at least one recurring price in `subscription` mode when using prices.",
            param="line_items",
        )
    trial_end = now + trial_days * 86400 if trial_days else None
    period_end = trial_end or add_interval(now, recurring[0]["recurring"])
    sub_id = new_id("subscription")
    items = [_new_item(store, sub_id, price, qty, now, period_end) for price, qty in lines]
    subscription = store.create(
        "subscription",
        {
            "id": sub_id,
            "customer": customer["id"],
            "status": "trialing" if trial_end else "active",
            "items": list_envelope(f"/v1/subscription_items?subscription={sub_id}", items),
            "metadata": dict(metadata or {}),
            "currency": recurring[0]["currency"],
            "description": description,
            "start_date": now,
            "billing_cycle_anchor": period_end if trial_end else now,
            "billing_cycle_anchor_config": None,
            "cancel_at": None,
            "canceled_at": None,
            "cancel_at_period_end": False,
            "ended_at": None,
            "trial_start": now if trial_end else None,
            "trial_end": trial_end,
            "latest_invoice": None,
            "default_payment_method": new_id("payment_method"),
            "pending_update": None,
            "pause_collection": None,
            "next_pending_invoice_item_invoice": None,
            "pending_invoice_item_interval": None,
            "transfer_data": None,
            "billing_thresholds": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
            "discounts": [],
            "billing_schedules": [],
            "payment_settings": {
                "payment_method_options": None,
                "payment_method_types": None,
                "save_default_payment_method": "off",
            },
        },
    )
    invoice = new_invoice(
        call, subscription, customer, reason="subscription_create", period=(now, now), free=bool(trial_end)
    )
    subscription["latest_invoice"] = invoice["id"]
    call.emit("customer.subscription.created", subscription)
    _emit_invoice_opened(call, invoice)
    pay_invoice(call, invoice)
    return subscription, invoice


def _new_item(
    store: Store, sub_id: str, price: dict[str, Any], quantity: int, start: int, end: int
) -> dict[str, Any]:
    return store.create(
        "subscription_item",
        {
            "subscription": sub_id,
            "price": price,
            "plan": plan_for(store, price),
            "quantity": quantity,
            "metadata": {},
            "current_period_start": start,
            "current_period_end": end,
            "billing_thresholds": None,
            "discounts": [],
            "tax_rates": [],
        },
    )


# --- invoices -----------------------------------------------------------------------------------


def new_invoice(
    call: Call,
    subscription: dict[str, Any],
    customer: dict[str, Any],
    *,
    reason: str,
    period: tuple[int, int],
    free: bool = False,
) -> dict[str, Any]:
    """A finalized (open) invoice for the subscription's items over their current period."""
    store = call.store
    now = int(time.time())
    invoice_id = new_id("invoice")
    lines = [_line(store, invoice_id, subscription, item, free) for item in subscription["items"]["data"]]
    total = sum(line["amount"] for line in lines)
    number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
    customer["next_invoice_sequence"] += 1
    return store.create(
        "invoice",
        {
            "id": invoice_id,
            "customer": customer["id"],
            "customer_email": customer["email"],
            "customer_name": customer["name"],
            "customer_phone": customer["phone"],
            "customer_shipping": None,
            "subscription": subscription["id"],
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {
                    "metadata": dict(subscription["metadata"]),
                    "subscription": subscription["id"],
                },
            },
            "billing_reason": reason,
            "status": "open",
            "currency": subscription["currency"],
            "lines": list_envelope(f"/v1/invoices/{invoice_id}/lines", lines),
            "subtotal": total,
            "subtotal_excluding_tax": total,
            "total": total,
            "total_excluding_tax": total,
            "amount_due": total,
            "amount_paid": 0,
            "amount_remaining": total,
            "amount_overpaid": 0,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": True,
            "number": number,
            "period_start": period[0],
            "period_end": period[1],
            "effective_at": now,
            "due_date": None,
            "next_payment_attempt": now,
            "hosted_invoice_url": call.url(f"/invoice/{invoice_id}"),
            "invoice_pdf": call.url(f"/invoice/{invoice_id}/pdf"),
            "status_transitions": {
                "finalized_at": now,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            "account_name": "OpenAgents (Stripe fake)",
            "from_invoice": None,
            "last_finalization_error": None,
            "shipping_cost": None,
            "shipping_details": None,
            "webhooks_delivered_at": None,
            "automatically_finalizes_at": None,
            "total_taxes": [],
            "total_pretax_credit_amounts": [],
            "ending_balance": 0,
            "starting_balance": 0,
            "description": None,
        },
    )


def _line(
    store: Store, invoice_id: str, subscription: dict[str, Any], item: dict[str, Any], free: bool
) -> dict[str, Any]:
    price = item["price"]
    amount = 0 if free else price["unit_amount"] * item["quantity"]
    return store.create(
        "line_item",
        {
            "invoice": invoice_id,
            "amount": amount,
            "subtotal": amount,
            "currency": price["currency"],
            "description": f"{item['quantity']} × {price['nickname'] or price['product']}",
            "quantity": item["quantity"],
            "quantity_decimal": str(item["quantity"]),
            "period": {"start": item["current_period_start"], "end": item["current_period_end"]},
            "subscription": subscription["id"],
            "metadata": {},
            "taxes": [],
            "pretax_credit_amounts": [],
            "parent": {
                "type": "subscription_item_details",
                "invoice_item_details": None,
                "subscription_item_details": {
                    "invoice_item": None,
                    "proration": False,
                    "proration_details": {"credited_items": None},
                    "subscription": subscription["id"],
                    "subscription_item": item["id"],
                },
            },
            # `price_details` is where basil+ puts a line's price (SDK: InvoiceLineItem.Pricing).
            "pricing": {
                "type": "price_details",
                "price_details": {"price": price["id"], "product": price["product"]},
                "unit_amount_decimal": price["unit_amount_decimal"],
            },
        },
        save=False,
    )


def _emit_invoice_opened(call: Call, invoice: dict[str, Any]) -> None:
    call.emit("invoice.created", invoice)
    call.emit("invoice.finalized", invoice)


def pay_invoice(call: Call, invoice: dict[str, Any]) -> dict[str, Any]:
    """The invoice is paid (a charge when there is something to pay); `invoice.paid` + `invoice.payment_succeeded`."""
    if invoice["status"] == "paid":
        raise StripeError.invalid("Invoice is already paid.")
    store = call.store
    now = int(time.time())
    before = dict(invoice)
    if invoice["amount_remaining"] > 0:
        customer = store.find(invoice["customer"]) or {}
        intent, _charge = payments.pay(
            store,
            amount=invoice["amount_remaining"],
            currency=invoice["currency"],
            customer=invoice["customer"],
            email=customer.get("email"),
            description="Subscription creation"
            if invoice["billing_reason"] == "subscription_create"
            else "Subscription update",
        )
        _record_payment(store, invoice, intent, now)
    invoice.update(
        status="paid",
        amount_paid=invoice["amount_due"],
        amount_remaining=0,
        attempted=True,
        attempt_count=invoice["attempt_count"] + (1 if invoice["amount_due"] else 0),
        auto_advance=False,
        next_payment_attempt=None,
        status_transitions={**invoice["status_transitions"], "paid_at": now},
    )
    previous = changed(before, invoice)
    call.emit("invoice.paid", invoice, previous)
    call.emit("invoice.payment_succeeded", invoice, previous)
    subscription = _invoice_subscription(store, invoice)
    if subscription and subscription["status"] in ("past_due", "unpaid", "incomplete"):
        set_fields(call, subscription, {"status": "active"})
    return invoice


def fail_invoice(call: Call, invoice: dict[str, Any]) -> dict[str, Any]:
    """A payment attempt failed: `invoice.payment_failed`; an active subscription becomes past_due."""
    if invoice["status"] != "open":
        raise StripeError.invalid(f"Only open invoices can fail payment (invoice is {invoice['status']}).")
    now = int(time.time())
    before = dict(invoice)
    invoice.update(
        attempted=True,
        attempt_count=invoice["attempt_count"] + 1,
        next_payment_attempt=now + 3 * 86400,
    )
    call.emit("invoice.payment_failed", invoice, changed(before, invoice))
    subscription = _invoice_subscription(call.store, invoice)
    if subscription and subscription["status"] in ("active", "trialing"):
        set_fields(call, subscription, {"status": "past_due"})
    return invoice


def _record_payment(store: Store, invoice: dict[str, Any], intent: dict[str, Any], now: int) -> None:
    store.create(
        "invoice_payment",
        {
            "amount_paid": intent["amount"],
            "amount_requested": intent["amount"],
            "currency": intent["currency"],
            "invoice": invoice["id"],
            "is_default": True,
            "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
            "status": "paid",
            "status_transitions": {"canceled_at": None, "paid_at": now},
        },
    )


def _invoice_subscription(store: Store, invoice: dict[str, Any]) -> dict[str, Any] | None:
    return store.find(invoice["subscription"]) if invoice.get("subscription") else None


def retrieve_invoice(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return call.store.get("invoice", id)


def list_invoices(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    items = call.store.all("invoice")
    for field in ("customer", "subscription", "status"):
        if params.get(field):
            items = [i for i in items if i[field] == params[field]]
    return paginate("/v1/invoices", items, params)


def list_invoice_lines(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    invoice = call.store.get("invoice", id)
    return paginate(f"/v1/invoices/{id}/lines", invoice["lines"]["data"], params)


def retrieve_invoice_payment(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return call.store.get("invoice_payment", id)


def list_invoice_payments(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    items = call.store.all("invoice_payment")
    if params.get("invoice"):
        items = [p for p in items if p["invoice"] == params["invoice"]]
    intent = (
        (params.get("payment") or {}).get("payment_intent")
        if isinstance(params.get("payment"), dict)
        else None
    )
    if intent:
        items = [p for p in items if p["payment"].get("payment_intent") == intent]
    return paginate("/v1/invoice_payments", items, params)


# --- the subscription API -----------------------------------------------------------------------


def create(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    customer = call.store.get("customer", require(params, "customer"), param="customer")
    lines = []
    for index, item in enumerate(as_list(params, "items")):
        price = call.store.get("price", require(item, "price"), param=f"items[{index}][price]")
        lines.append((price, as_int(item, "quantity", default=1) or 1))
    if not lines:
        raise StripeError.missing_param("items")
    subscription, _ = start(
        call,
        customer=customer,
        lines=lines,
        metadata=merge_metadata({}, params.get("metadata")),
        trial_days=as_int(params, "trial_period_days"),
        description=params.get("description") or None,
    )
    return subscription


def retrieve(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return call.store.get("subscription", id)


def list_(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    items = call.store.all("subscription")
    status = params.get("status")
    if status == "all":
        pass
    elif status:
        items = [s for s in items if s["status"] == status]
    else:
        # Stripe's default hides canceled subscriptions.
        items = [s for s in items if s["status"] in _ACTIVE_LIKE]
    if params.get("customer"):
        items = [s for s in items if s["customer"] == params["customer"]]
    if params.get("price"):
        items = [s for s in items if any(i["price"]["id"] == params["price"] for i in s["items"]["data"])]
    return paginate("/v1/subscriptions", items, params)


def update(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    subscription = call.store.get("subscription", id)
    if subscription["status"] == "canceled" and set(params) - {"metadata", "cancellation_details", "expand"}:
        raise StripeError.invalid(_CANCELED_ONLY_MESSAGE)
    changes: dict[str, Any] = {}
    if "metadata" in params:
        changes["metadata"] = merge_metadata(subscription["metadata"], params["metadata"])
    if "description" in params:
        changes["description"] = params["description"] or None
    if "cancel_at_period_end" in params:
        changes.update(cancel_at_period_end_changes(subscription, as_bool(params["cancel_at_period_end"])))
    if "cancel_at" in params:
        at = as_int(params, "cancel_at")
        changes.update(cancel_at=at, cancel_at_period_end=False)
    if "items" in params:
        changes["items"] = updated_items(call.store, subscription, as_list(params, "items"))
    if "cancellation_details" in params and isinstance(params["cancellation_details"], dict):
        details = {**subscription["cancellation_details"]}
        for key in ("comment", "feedback"):
            if key in params["cancellation_details"]:
                details[key] = params["cancellation_details"][key] or None
        changes["cancellation_details"] = details
    return set_fields(call, subscription, changes)


def cancel(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    subscription = call.store.get("subscription", id)
    if subscription["status"] == "canceled":
        raise StripeError.invalid(_CANCELED_ONLY_MESSAGE)
    return end_subscription(call, subscription, reason="cancellation_requested")


def end_subscription(call: Call, subscription: dict[str, Any], *, reason: str) -> dict[str, Any]:
    now = int(time.time())
    before = dict(subscription)
    subscription.update(
        status="canceled",
        canceled_at=subscription["canceled_at"] or now,
        ended_at=now,
        cancel_at=None
        if subscription["cancel_at"] and subscription["cancel_at"] > now
        else subscription["cancel_at"],
        cancellation_details={**subscription["cancellation_details"], "reason": reason},
    )
    call.emit("customer.subscription.deleted", subscription, changed(before, subscription))
    return subscription


def renew(call: Call, subscription: dict[str, Any], *, fail: bool = False) -> dict[str, Any]:
    """The period ends: a canceling subscription ends, others start a new period with a new invoice."""
    if subscription["status"] == "canceled":
        raise StripeError.invalid(_CANCELED_ONLY_MESSAGE)
    if subscription["cancel_at_period_end"]:
        return end_subscription(call, subscription, reason="cancellation_requested")
    store = call.store
    customer = store.get("customer", subscription["customer"])
    items = subscription["items"]["data"]
    old_start, old_end = items[0]["current_period_start"], items[0]["current_period_end"]
    new_items = []
    for item in items:
        fresh = dict(item)
        fresh.update(
            current_period_start=old_end, current_period_end=add_interval(old_end, item["price"]["recurring"])
        )
        store.save(fresh)
        new_items.append(fresh)
    changes: dict[str, Any] = {"items": {**subscription["items"], "data": new_items}}
    if subscription["status"] == "trialing":
        changes["status"] = "active"
    set_fields(call, subscription, changes)
    invoice = new_invoice(
        call, subscription, customer, reason="subscription_cycle", period=(old_start, old_end)
    )
    subscription["latest_invoice"] = invoice["id"]
    _emit_invoice_opened(call, invoice)
    if fail:
        fail_invoice(call, invoice)
    else:
        pay_invoice(call, invoice)
    return invoice


def cancel_at_period_end_changes(subscription: dict[str, Any], flag: bool) -> dict[str, Any]:
    period_end = subscription["items"]["data"][0]["current_period_end"]
    details = {**subscription["cancellation_details"], "reason": "cancellation_requested" if flag else None}
    return {
        "cancel_at_period_end": flag,
        "cancel_at": period_end if flag else None,
        "canceled_at": int(time.time()) if flag else None,
        "cancellation_details": details,
    }


def updated_items(store: Store, subscription: dict[str, Any], given: list[Any]) -> dict[str, Any]:
    items = [dict(i) for i in subscription["items"]["data"]]
    start = items[0]["current_period_start"]
    end = items[0]["current_period_end"]
    for index, change in enumerate(given):
        if not isinstance(change, dict):
            continue
        if change.get("id"):
            position = next((n for n, i in enumerate(items) if i["id"] == change["id"]), None)
            if position is None:
                raise StripeError.missing("subscription_item", change["id"], f"items[{index}][id]")
            if as_bool(change.get("deleted")):
                items.pop(position)
                continue
            item = items[position]
            if change.get("price"):
                price = store.get("price", change["price"], param=f"items[{index}][price]")
                item.update(price=price, plan=plan_for(store, price))
            if change.get("quantity") not in (None, ""):
                item["quantity"] = as_int(change, "quantity")
            if "metadata" in change:
                item["metadata"] = merge_metadata(item["metadata"], change["metadata"])
            store.save(item)
        else:
            price = store.get("price", require(change, "price"), param=f"items[{index}][price]")
            items.append(
                _new_item(
                    store, subscription["id"], price, as_int(change, "quantity", default=1) or 1, start, end
                )
            )
    return {**subscription["items"], "data": items}


def set_fields(call: Call, subscription: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    before = dict(subscription)
    subscription.update(changes)
    previous = changed(before, subscription)
    if previous:
        call.emit("customer.subscription.updated", subscription, previous)
    return subscription

"""Checkout sessions (subscription and one-off payment) and customer-portal sessions.

A session's `url` points at the fake's own hosted page (`<base>/checkout/<id>`); completing it
(the page's Pay button, or `POST /_fake/checkout/{id}/complete`) does what Stripe does when a
customer pays: customer, subscription + paid invoice or payment intent + charge, then events.
"""

from __future__ import annotations

import time
from typing import Any

from ..context import Call
from ..errors import StripeError
from ..fixtures import new_id
from ..listing import VIRTUAL_FIELDS, list_envelope, paginate
from ..params import as_dict, as_int, as_list, merge_metadata, require
from ..store import Store
from . import catalog, payments, subscriptions

_MODES = ("payment", "subscription")


def create(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    store = call.store
    mode = require(params, "mode")
    if mode == "setup":
        raise StripeError.invalid("The Stripe fake does not implement `setup` mode.", param="mode")
    if mode not in _MODES:
        raise StripeError.invalid(
            "Invalid mode: must be one of payment, setup, or subscription", param="mode"
        )
    if params.get("customer") and params.get("customer_email"):
        raise StripeError.invalid("You may only specify one of these parameters: customer, customer_email.")
    customer = store.get("customer", params["customer"], param="customer") if params.get("customer") else None
    lines = _line_items(store, as_list(params, "line_items"), mode)
    session_id = new_id("checkout.session")
    items = [_item(store, price, qty) for price, qty in lines]
    store.checkout_items[session_id] = items
    subtotal = sum(item["amount_subtotal"] for item in items)
    now = int(time.time())
    session = store.create(
        "checkout.session",
        {
            "id": session_id,
            "mode": mode,
            "status": "open",
            "payment_status": "unpaid",
            "url": call.url(f"/checkout/{session_id}"),
            "success_url": params.get("success_url") or None,
            "cancel_url": params.get("cancel_url") or None,
            "client_reference_id": params.get("client_reference_id") or None,
            "customer": customer["id"] if customer else None,
            "customer_email": params.get("customer_email") or None,
            "customer_details": None,
            "customer_creation": params.get("customer_creation")
            or ("if_required" if mode == "payment" and not customer else None),
            "metadata": merge_metadata({}, params.get("metadata")),
            "currency": items[0]["currency"],
            "amount_subtotal": subtotal,
            "amount_total": subtotal,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "expires_at": as_int(params, "expires_at", default=now + 86400),
            # Since API 2022-08-01 the payment intent appears only once the customer pays.
            "payment_intent": None,
            "subscription": None,
            "invoice": None,
            "invoice_creation": _invoice_creation(store) if mode == "payment" else None,
            "payment_method_collection": "always" if mode == "subscription" else None,
            "payment_method_types": ["card"],
            "payment_method_options": {},
            "payment_method_configuration_details": None,
            "ui_mode": params.get("ui_mode") or "hosted_page",
            "locale": params.get("locale") or None,
            "submit_type": params.get("submit_type") or None,
            "allow_promotion_codes": None,
            "automatic_tax": {"enabled": False, "liability": None, "status": None, "provider": None},
            "after_expiration": None,
            "consent": None,
            "consent_collection": None,
            "custom_fields": [],
            "custom_text": {
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            "shipping_address_collection": None,
            "shipping_cost": None,
            "shipping_options": [],
            "currency_conversion": None,
            "collected_information": None,
            "adaptive_pricing": {"enabled": False},
            "saved_payment_method_options": None,
            "permissions": None,
            "wallet_options": None,
            "origin_context": None,
            "managed_payments": None,
            "discounts": [],
        },
    )
    subscription_data = as_dict(params, "subscription_data")
    intent_data = as_dict(params, "payment_intent_data")
    store.checkout_options[session_id] = {
        "lines": lines,
        "subscription_metadata": merge_metadata({}, subscription_data.get("metadata")),
        "trial_period_days": as_int(subscription_data, "trial_period_days"),
        "subscription_description": subscription_data.get("description") or None,
        "payment_metadata": merge_metadata({}, intent_data.get("metadata")),
        "payment_description": intent_data.get("description") or None,
    }
    return session


def _line_items(store: Store, given: list[Any], mode: str) -> list[tuple[dict[str, Any], int]]:
    if not given:
        raise StripeError.missing_param("line_items")
    lines: list[tuple[dict[str, Any], int]] = []
    for index, entry in enumerate(given):
        if not isinstance(entry, dict):
            raise StripeError.invalid("Invalid array", param="line_items")
        quantity = as_int(entry, "quantity")
        if quantity is None:
            raise StripeError.missing_param(f"line_items[{index}][quantity]")
        if entry.get("price"):
            price = store.get("price", entry["price"], param=f"line_items[{index}][price]")
        elif entry.get("price_data"):
            price = _inline_price(store, entry["price_data"], f"line_items[{index}][price_data]")
        else:
            raise StripeError.missing_param(f"line_items[{index}][price]")
        lines.append((price, quantity))
    recurring = [price for price, _ in lines if price["type"] == "recurring"]
    if mode == "subscription" and not recurring:
        raise StripeError.invalid(
            "You must provide at least one recurring price in `subscription` mode when using prices.",
            param="line_items",
        )
    if mode == "payment" and recurring:
        raise StripeError.invalid(
            "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode "
            "or use only one-time prices.",
            param="line_items",
        )
    return lines


def _inline_price(store: Store, data: Any, param: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise StripeError.invalid("Invalid hash", param=param)
    if data.get("product"):
        product = store.get("product", data["product"], param=f"{param}[product]")
    else:
        product_data = data.get("product_data")
        if not isinstance(product_data, dict) or not product_data.get("name"):
            raise StripeError.missing_param(f"{param}[product_data][name]")
        product = catalog.new_product(store, product_data["name"], product_data, active=False)
    # Prices made from price_data are one-off: stored, but inactive.
    return catalog.new_price(
        store,
        product=product["id"],
        currency=str(require(data, "currency")).lower(),
        unit_amount=as_int(data, "unit_amount", default=0) or 0,
        recurring=data.get("recurring") if isinstance(data.get("recurring"), dict) else None,
        active=False,
    )


def _item(store: Store, price: dict[str, Any], quantity: int) -> dict[str, Any]:
    product = store.find(price["product"])
    amount = price["unit_amount"] * quantity
    return store.fixtures.build(
        "item",
        {
            "id": new_id("item"),
            "amount_discount": 0,
            "amount_subtotal": amount,
            "amount_tax": 0,
            "amount_total": amount,
            "currency": price["currency"],
            "description": product["name"] if product else None,
            "price": price,
            "quantity": quantity,
            "metadata": {},
            "adjustable_quantity": None,
        },
    )


def _invoice_creation(store: Store) -> dict[str, Any]:
    value = store.fixtures.raw("checkout.session")["invoice_creation"]
    value["enabled"] = False
    value["invoice_data"].update(
        account_tax_ids=None,
        custom_fields=None,
        description=None,
        footer=None,
        issuer=None,
        metadata=None,
        rendering_options=None,
    )
    return value


def retrieve(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return call.store.get("checkout.session", id)


def list_(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    items = call.store.all("checkout.session")
    for field in ("customer", "payment_intent", "subscription", "status"):
        if params.get(field):
            items = [s for s in items if s[field] == params[field]]
    return paginate("/v1/checkout/sessions", items, params)


def list_line_items(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    call.store.get("checkout.session", id)
    return paginate(f"/v1/checkout/sessions/{id}/line_items", call.store.checkout_items.get(id, []), params)


def _line_items_field(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    items = store.checkout_items.get(session["id"], [])
    return list_envelope(f"/v1/checkout/sessions/{session['id']}/line_items", items)


VIRTUAL_FIELDS[("checkout.session", "line_items")] = _line_items_field


def expire(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    session = call.store.get("checkout.session", id)
    if session["status"] != "open":
        raise StripeError.invalid(
            f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a '
            f'status of "{session["status"]}".'
        )
    session["status"] = "expired"
    call.emit("checkout.session.expired", session)
    return session


def complete(call: Call, id: str, *, email: str | None = None, name: str | None = None) -> dict[str, Any]:
    """The customer paid on the hosted page."""
    store = call.store
    session = store.get("checkout.session", id)
    if session["status"] != "open":
        raise StripeError.invalid(f"Checkout Session {id} is {session['status']}, not open.")
    options = store.checkout_options[id]
    customer = _customer_for(call, session, email, name)
    if session["mode"] == "subscription":
        subscription, invoice = subscriptions.start(
            call,
            customer=customer,
            lines=options["lines"],
            metadata=options["subscription_metadata"],
            trial_days=options["trial_period_days"],
            description=options["subscription_description"],
        )
        session.update(
            subscription=subscription["id"],
            invoice=invoice["id"],
            payment_status="paid" if invoice["amount_paid"] else "no_payment_required",
        )
    else:
        intent, charge = payments.pay(
            store,
            amount=session["amount_total"],
            currency=session["currency"],
            customer=customer["id"],
            metadata=options["payment_metadata"],
            email=customer["email"],
            description=options["payment_description"],
        )
        call.emit("payment_intent.succeeded", intent)
        call.emit("charge.succeeded", charge)
        session.update(payment_intent=intent["id"], payment_status="paid")
    session.update(
        status="complete",
        customer=customer["id"],
        customer_details={
            "address": {
                "city": None,
                "country": None,
                "line1": None,
                "line2": None,
                "postal_code": None,
                "state": None,
            },
            "email": customer["email"],
            "name": customer["name"],
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
            "business_name": None,
            "individual_name": None,
        },
    )
    call.emit("checkout.session.completed", session)
    return session


def _customer_for(call: Call, session: dict[str, Any], email: str | None, name: str | None) -> dict[str, Any]:
    if session["customer"]:
        return call.store.get("customer", session["customer"])
    customer = call.store.create(
        "customer",
        {
            "email": session["customer_email"]
            or email
            or f"customer-{session['id'][-6:].lower()}@example.com",
            "name": name,
            "metadata": {},
            "currency": None,
            "discount": None,
            "shipping": None,
        },
    )
    call.emit("customer.created", customer)
    return customer


# --- customer portal ----------------------------------------------------------------------------


def create_portal_session(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    customer = call.store.get("customer", require(params, "customer"), param="customer")
    session_id = new_id("billing_portal.session")
    flow_data = as_dict(params, "flow_data")
    return call.store.create(
        "billing_portal.session",
        {
            "id": session_id,
            "customer": customer["id"],
            "return_url": params.get("return_url") or None,
            "configuration": params.get("configuration") or call.store.portal_configuration,
            "locale": params.get("locale") or None,
            "on_behalf_of": params.get("on_behalf_of") or None,
            "flow": _portal_flow(flow_data) if flow_data else None,
            "url": call.url(f"/billing_portal/{session_id}"),
        },
    )


def _portal_flow(flow_data: dict[str, Any]) -> dict[str, Any]:
    flow_type = require(flow_data, "type")
    after = flow_data.get("after_completion") if isinstance(flow_data.get("after_completion"), dict) else {}
    after_type = after.get("type") or "portal_homepage"
    return {
        "after_completion": {
            "type": after_type,
            "hosted_confirmation": after.get("hosted_confirmation")
            if after_type == "hosted_confirmation"
            else None,
            "redirect": after.get("redirect") if after_type == "redirect" else None,
        },
        "subscription_cancel": _flow_part(flow_data, "subscription_cancel", flow_type, retention=None),
        "subscription_update": _flow_part(flow_data, "subscription_update", flow_type),
        "subscription_update_confirm": _flow_part(
            flow_data, "subscription_update_confirm", flow_type, discounts=None, items=[]
        ),
        "type": flow_type,
    }


def _flow_part(
    flow_data: dict[str, Any], name: str, flow_type: str, **defaults: Any
) -> dict[str, Any] | None:
    if flow_type != name:
        return None
    given = flow_data.get(name) if isinstance(flow_data.get(name), dict) else {}
    return {**defaults, **given}

"""Payment intents, charges and refunds: what a paid checkout or invoice leaves behind."""

from __future__ import annotations

from typing import Any

from ..context import Call
from ..errors import StripeError
from ..fixtures import new_id
from ..listing import list_envelope, paginate
from ..params import as_int, merge_metadata
from ..store import Store, changed


def pay(
    store: Store,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    metadata: dict[str, str] | None = None,
    email: str | None = None,
    description: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A succeeded payment intent and its charge (a card payment that went through)."""
    payment_method = new_id("payment_method")
    intent = store.create(
        "payment_intent",
        {
            "amount": amount,
            "amount_received": amount,
            "amount_capturable": 0,
            "currency": currency,
            "customer": customer,
            "description": description,
            "metadata": dict(metadata or {}),
            "status": "succeeded",
            "payment_method": payment_method,
            "canceled_at": None,
            "last_payment_error": None,
            "next_action": None,
            "processing": None,
            "transfer_data": None,
            "payment_method_configuration_details": None,
        },
    )
    intent["client_secret"] = f"{intent['id']}_secret_{new_id('request')[4:]}"
    charge = store.create(
        "charge",
        {
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "captured": True,
            "paid": True,
            "refunded": False,
            "status": "succeeded",
            "currency": currency,
            "customer": customer,
            "description": description,
            "metadata": dict(metadata or {}),
            "payment_intent": intent["id"],
            "payment_method": payment_method,
            "balance_transaction": new_id("balance_transaction"),
            "receipt_email": email,
            "receipt_url": None,
            "source": None,
            "transfer_data": None,
            "failure_code": None,
            "failure_message": None,
            "calculated_statement_descriptor": "OPENAGENTS",
        },
    )
    charge["billing_details"]["email"] = email
    charge["billing_details"]["name"] = None
    charge["outcome"].update(
        network_status="approved_by_network", seller_message="Payment complete.", type="authorized"
    )
    charge["refunds"] = list_envelope(f"/v1/charges/{charge['id']}/refunds", [])
    intent["latest_charge"] = charge["id"]
    return intent, charge


def retrieve_payment_intent(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return call.store.get("payment_intent", id)


def list_payment_intents(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    items = call.store.all("payment_intent")
    if params.get("customer"):
        items = [i for i in items if i["customer"] == params["customer"]]
    return paginate("/v1/payment_intents", items, params)


def retrieve_charge(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return call.store.get("charge", id)


def list_charges(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    items = call.store.all("charge")
    for field in ("customer", "payment_intent"):
        if params.get(field):
            items = [c for c in items if c[field] == params[field]]
    return paginate("/v1/charges", items, params)


def create_refund(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    store = call.store
    if params.get("charge"):
        charge = store.get("charge", params["charge"], param="charge")
    elif params.get("payment_intent"):
        intent = store.get("payment_intent", params["payment_intent"], param="payment_intent")
        if not intent["latest_charge"]:
            raise StripeError.invalid(
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        charge = store.get("charge", intent["latest_charge"])
    else:
        raise StripeError.invalid(
            "One of the following params should be provided for this request: payment_intent or charge."
        )
    return refund(
        call,
        charge,
        amount=as_int(params, "amount"),
        reason=params.get("reason") or None,
        metadata=merge_metadata({}, params.get("metadata")),
    )


def refund(
    call: Call,
    charge: dict[str, Any],
    *,
    amount: int | None = None,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Refund (part of) a charge: a refund object, the charge updated, `charge.refunded` + `refund.created`."""
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise StripeError.invalid(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = remaining if amount is None else amount
    if amount <= 0 or amount > remaining:
        raise StripeError.invalid(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            param="amount",
            code="amount_too_large",
        )
    refund_obj = call.store.create(
        "refund",
        {
            "amount": amount,
            "charge": charge["id"],
            "payment_intent": charge["payment_intent"],
            "currency": charge["currency"],
            "reason": reason,
            "metadata": dict(metadata or {}),
            "status": "succeeded",
            "balance_transaction": new_id("balance_transaction"),
            "payment_method": charge["payment_method"],
        },
    )
    before = dict(charge)
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    refunds = charge["refunds"] or list_envelope(f"/v1/charges/{charge['id']}/refunds", [])
    charge["refunds"] = {**refunds, "data": [refund_obj, *refunds["data"]]}
    call.emit("charge.refunded", charge, changed(before, charge))
    call.emit("refund.created", refund_obj)
    return refund_obj


def retrieve_refund(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return call.store.get("refund", id)


def list_refunds(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    items = call.store.all("refund")
    for field in ("charge", "payment_intent"):
        if params.get(field):
            items = [r for r in items if r[field] == params[field]]
    return paginate("/v1/refunds", items, params)

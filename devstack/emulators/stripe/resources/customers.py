"""Customers: create, retrieve, update, delete, list (with the `email` filter)."""

from __future__ import annotations

import string
from typing import Any

from ..context import Call
from ..fixtures import random_token
from ..listing import paginate
from ..params import merge_metadata
from ..store import changed

_SETTABLE = ("email", "name", "description", "phone")


def create(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    overlay: dict[str, Any] = {
        "email": params.get("email"),
        "name": params.get("name"),
        "description": params.get("description"),
        "phone": params.get("phone"),
        "metadata": merge_metadata({}, params.get("metadata")),
        # The fixture's example values for a customer with history; a new customer has none.
        "currency": None,
        "discount": None,
        "shipping": None,
        "invoice_prefix": _invoice_prefix(),
    }
    customer = call.store.create("customer", overlay)
    call.emit("customer.created", customer)
    return customer


def retrieve(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return _live(call, id)


def update(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    customer = _live(call, id)
    before = dict(customer)
    for key in _SETTABLE:
        if key in params:
            customer[key] = params[key] or None
    if "metadata" in params:
        customer["metadata"] = merge_metadata(customer["metadata"], params["metadata"])
    previous = changed(before, customer)
    if previous:
        call.emit("customer.updated", customer, previous)
    return customer


def delete(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    customer = _live(call, id)
    call.store.delete("customer", id)
    call.emit("customer.deleted", customer)
    return call.store.fixtures.build("deleted_customer", {"id": id})


def list_(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    items = call.store.all("customer")
    if params.get("email"):
        # Stripe's filter is an exact, case-sensitive match.
        items = [c for c in items if c["email"] == params["email"]]
    return paginate("/v1/customers", items, params)


def _live(call: Call, id: str) -> dict[str, Any]:
    return call.store.get("customer", id)


def _invoice_prefix() -> str:
    return random_token(8, string.ascii_uppercase + string.digits)

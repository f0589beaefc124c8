"""Products and prices (so plans and top-ups can be mapped to price ids and lookup keys)."""

from __future__ import annotations

import calendar
import datetime as dt
import time
from typing import Any

from ..context import Call
from ..errors import StripeError
from ..listing import paginate
from ..params import as_bool, as_dict, as_int, as_list, merge_metadata, require
from ..store import Store, changed

_INTERVALS = ("day", "week", "month", "year")


# --- products -----------------------------------------------------------------------------------


def create_product(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    product = new_product(call.store, require(params, "name"), params)
    call.emit("product.created", product)
    return product


def new_product(store: Store, name: str, params: dict[str, Any], *, active: bool = True) -> dict[str, Any]:
    now = int(time.time())
    return store.create(
        "product",
        {
            "name": name,
            "description": params.get("description") or None,
            "metadata": merge_metadata({}, params.get("metadata")),
            "active": as_bool(params.get("active", "true")) and active,
            "default_price": None,
            "images": [],
            "marketing_features": [],
            "package_dimensions": None,
            "shippable": None,
            "type": "service",
            "updated": now,
        },
    )


def retrieve_product(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return call.store.get("product", id)


def list_products(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    items = call.store.all("product")
    if "active" in params:
        items = [p for p in items if p["active"] == as_bool(params["active"])]
    return paginate("/v1/products", items, params)


# --- prices -------------------------------------------------------------------------------------


def create_price(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    store = call.store
    currency = str(require(params, "currency")).lower()
    if params.get("product"):
        product_id = store.get("product", params["product"], param="product")["id"]
    elif params.get("product_data"):
        data = as_dict(params, "product_data")
        product_id = new_product(store, require(data, "name"), data)["id"]
    else:
        raise StripeError.invalid(
            "You must specify either `product` or `product_data` when creating a price."
        )
    lookup_key = params.get("lookup_key") or None
    if lookup_key:
        holder = _price_with_lookup_key(store, lookup_key)
        if holder and not as_bool(params.get("transfer_lookup_key")):
            raise StripeError.invalid(
                f"A price (`{holder['id']}`) already uses that lookup key.", param="lookup_key"
            )
        if holder:
            holder["lookup_key"] = None
    price = new_price(
        store,
        product=product_id,
        currency=currency,
        unit_amount=as_int(params, "unit_amount", default=0) or 0,
        recurring=as_dict(params, "recurring") or None,
        lookup_key=lookup_key,
        nickname=params.get("nickname") or None,
        metadata=merge_metadata({}, params.get("metadata")),
        active=as_bool(params.get("active", "true")),
    )
    call.emit("price.created", price)
    return price


def new_price(
    store: Store,
    *,
    product: str,
    currency: str,
    unit_amount: int,
    recurring: dict[str, Any] | None,
    lookup_key: str | None = None,
    nickname: str | None = None,
    metadata: dict[str, str] | None = None,
    active: bool = True,
) -> dict[str, Any]:
    recurring_obj = None
    if recurring:
        interval = require(recurring, "interval")
        if interval not in _INTERVALS:
            raise StripeError.invalid(
                f"Invalid recurring[interval]: must be one of {', '.join(_INTERVALS)}",
                param="recurring[interval]",
            )
        recurring_obj = {
            "interval": interval,
            "interval_count": as_int(recurring, "interval_count", default=1),
            "meter": recurring.get("meter") or None,
            "usage_type": recurring.get("usage_type") or "licensed",
            "trial_period_days": None,
        }
    return store.create(
        "price",
        {
            "product": product,
            "currency": currency,
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
            "recurring": recurring_obj,
            "type": "recurring" if recurring_obj else "one_time",
            "lookup_key": lookup_key,
            "nickname": nickname,
            "metadata": metadata or {},
            "active": active,
            "billing_scheme": "per_unit",
            "custom_unit_amount": None,
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
        },
    )


def retrieve_price(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return call.store.get("price", id)


def update_price(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    price = call.store.get("price", id)
    before = dict(price)
    if "active" in params:
        price["active"] = as_bool(params["active"])
    if "nickname" in params:
        price["nickname"] = params["nickname"] or None
    if "lookup_key" in params:
        key = params["lookup_key"] or None
        holder = _price_with_lookup_key(call.store, key) if key else None
        if holder and holder is not price:
            if not as_bool(params.get("transfer_lookup_key")):
                raise StripeError.invalid(
                    f"A price (`{holder['id']}`) already uses that lookup key.", param="lookup_key"
                )
            holder["lookup_key"] = None
        price["lookup_key"] = key
    if "metadata" in params:
        price["metadata"] = merge_metadata(price["metadata"], params["metadata"])
    previous = changed(before, price)
    if previous:
        call.emit("price.updated", price, previous)
    return price


def list_prices(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    items = call.store.all("price")
    if "active" in params:
        items = [p for p in items if p["active"] == as_bool(params["active"])]
    for field in ("product", "currency", "type"):
        if params.get(field):
            items = [p for p in items if p[field] == params[field]]
    keys = as_list(params, "lookup_keys")
    if keys:
        items = [p for p in items if p["lookup_key"] in keys]
    return paginate("/v1/prices", items, params)


def _price_with_lookup_key(store: Store, key: str) -> dict[str, Any] | None:
    return next((p for p in store.all("price") if p["lookup_key"] == key), None)


def plan_for(store: Store, price: dict[str, Any]) -> dict[str, Any]:
    """The legacy `plan` view of a recurring price that Stripe still embeds in subscription items."""
    recurring = price["recurring"] or {}
    return store.fixtures.build(
        "plan",
        {
            "id": price["id"],
            "active": price["active"],
            "amount": price["unit_amount"],
            "amount_decimal": price["unit_amount_decimal"],
            "billing_scheme": price["billing_scheme"],
            "created": price["created"],
            "currency": price["currency"],
            "interval": recurring.get("interval", "month"),
            "interval_count": recurring.get("interval_count", 1),
            "livemode": False,
            "metadata": price["metadata"],
            "meter": recurring.get("meter"),
            "nickname": price["nickname"],
            "product": price["product"],
            "tiers_mode": None,
            "transform_usage": None,
            "trial_period_days": None,
            "usage_type": recurring.get("usage_type", "licensed"),
        },
    )


def add_interval(start: int, recurring: dict[str, Any] | None) -> int:
    """The end of one billing period (calendar months/years, like Stripe)."""
    recurring = recurring or {"interval": "month", "interval_count": 1}
    count = int(recurring.get("interval_count") or 1)
    begin = dt.datetime.fromtimestamp(start, dt.UTC)
    interval = recurring.get("interval", "month")
    if interval == "day":
        end = begin + dt.timedelta(days=count)
    elif interval == "week":
        end = begin + dt.timedelta(weeks=count)
    else:
        months = count * (12 if interval == "year" else 1)
        year, month0 = divmod(begin.month - 1 + months, 12)
        year += begin.year
        day = min(begin.day, _days_in_month(year, month0 + 1))
        end = begin.replace(year=year, month=month0 + 1, day=day)
    return int(end.timestamp())


def _days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]

"""Billing meters, meter events (identifier-deduplicated) and event summaries.

Stripe refuses a meter event whose `identifier` it has already seen (unique for at least 24 h):
400 `invalid_request_error`, "An event already exists with identifier <id>.", no error code, and
`Stripe-Should-Retry: false` — wording as observed from Stripe by several public projects.
"""

from __future__ import annotations

import time
from typing import Any

from ..context import Call
from ..errors import StripeError
from ..fixtures import new_id
from ..listing import paginate
from ..params import as_dict, as_int, require

_FORMULAS = ("sum", "count", "last")
_PAST_LIMIT = 35 * 86400
_FUTURE_LIMIT = 5 * 60


def create_meter(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    display_name = require(params, "display_name")
    event_name = require(params, "event_name")
    aggregation = as_dict(params, "default_aggregation")
    formula = require(aggregation, "formula") if aggregation else None
    if formula is None:
        raise StripeError.missing_param("default_aggregation")
    if formula not in _FORMULAS:
        raise StripeError.invalid(
            f"Invalid default_aggregation[formula]: must be one of {', '.join(_FORMULAS)}",
            param="default_aggregation[formula]",
        )
    mapping = as_dict(params, "customer_mapping")
    value_settings = as_dict(params, "value_settings")
    now = int(time.time())
    return call.store.create(
        "billing.meter",
        {
            "display_name": display_name,
            "event_name": event_name,
            "default_aggregation": {"formula": formula},
            "customer_mapping": {
                "event_payload_key": mapping.get("event_payload_key") or "stripe_customer_id",
                "type": mapping.get("type") or "by_id",
            },
            "value_settings": {"event_payload_key": value_settings.get("event_payload_key") or "value"},
            "event_time_window": params.get("event_time_window") or None,
            "status": "active",
            "status_transitions": {"deactivated_at": None},
            "updated": now,
        },
    )


def retrieve_meter(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return call.store.get("billing.meter", id)


def update_meter(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    meter = call.store.get("billing.meter", id)
    if params.get("display_name"):
        meter.update(display_name=params["display_name"], updated=int(time.time()))
    return meter


def set_meter_status(call: Call, params: dict[str, Any], id: str, *, active: bool) -> dict[str, Any]:
    meter = call.store.get("billing.meter", id)
    now = int(time.time())
    meter.update(
        status="active" if active else "inactive",
        status_transitions={"deactivated_at": None if active else now},
        updated=now,
    )
    return meter


def deactivate_meter(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return set_meter_status(call, params, id, active=False)


def reactivate_meter(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return set_meter_status(call, params, id, active=True)


def list_meters(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    items = call.store.all("billing.meter")
    if params.get("status"):
        items = [m for m in items if m["status"] == params["status"]]
    return paginate("/v1/billing/meters", items, params)


def create_meter_event(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    store = call.store
    event_name = require(params, "event_name")
    payload = as_dict(params, "payload")
    if not payload:
        raise StripeError.missing_param("payload")
    meter = next(
        (m for m in store.all("billing.meter") if m["event_name"] == event_name and m["status"] == "active"),
        None,
    )
    if meter is None:
        raise StripeError.invalid(
            f"No active meter found with event_name `{event_name}`.", param="event_name"
        )
    customer_key = meter["customer_mapping"]["event_payload_key"]
    value_key = meter["value_settings"]["event_payload_key"]
    for key in (customer_key, value_key):
        if not payload.get(key):
            raise StripeError.invalid(f"Missing required payload key: {key}.", param=f"payload[{key}]")
    try:
        float(payload[value_key])
    except ValueError:
        raise StripeError.invalid(
            f"Invalid value for payload[{value_key}]: must be a number.", param=f"payload[{value_key}]"
        ) from None
    now = int(time.time())
    timestamp = as_int(params, "timestamp", default=now)
    assert timestamp is not None
    if timestamp < now - _PAST_LIMIT or timestamp > now + _FUTURE_LIMIT:
        raise StripeError.invalid(
            "Timestamp must be within the past 35 calendar days and no more than 5 minutes in the future.",
            param="timestamp",
        )
    identifier = params.get("identifier") or new_id("request").replace("req_", "")
    if any(e["identifier"] == identifier for e in store.meter_events):
        raise StripeError(400, f"An event already exists with identifier {identifier}.", should_retry=False)
    event = store.fixtures.build(
        "billing.meter_event",
        {
            "created": now,
            "event_name": event_name,
            "identifier": identifier,
            "livemode": False,
            "payload": {str(k): str(v) for k, v in payload.items()},
            "timestamp": timestamp,
        },
    )
    store.meter_events.append(event)
    return event


def list_event_summaries(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    """Aggregated usage of one customer in [start_time, end_time), one summary for the whole window."""
    meter = call.store.get("billing.meter", id)
    customer = require(params, "customer")
    start = as_int(params, "start_time", required=True)
    end = as_int(params, "end_time", required=True)
    customer_key = meter["customer_mapping"]["event_payload_key"]
    value_key = meter["value_settings"]["event_payload_key"]
    values = [
        float(e["payload"][value_key])
        for e in call.store.meter_events
        if e["event_name"] == meter["event_name"]
        and e["payload"].get(customer_key) == customer
        and start <= e["timestamp"] < end
    ]
    formula = meter["default_aggregation"]["formula"]
    aggregated = (
        len(values) if formula == "count" else (values[-1] if values and formula == "last" else sum(values))
    )
    summary = call.store.fixtures.build(
        "billing.meter_event_summary",
        {
            "id": new_id("billing.meter_event_summary"),
            "aggregated_value": aggregated,
            "start_time": start,
            "end_time": end,
            "livemode": False,
            "meter": meter["id"],
        },
    )
    return paginate(f"/v1/billing/meters/{id}/event_summaries", [summary], params)

"""Events (`GET /v1/events`, for handlers that re-fetch) and webhook endpoints (where events go)."""

from __future__ import annotations

from typing import Any

from ..context import Call
from ..errors import StripeError
from ..fixtures import new_id
from ..listing import paginate
from ..params import as_list, merge_metadata, require
from ..store import Store


def retrieve_event(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return call.store.get("event", id)


def list_events(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    items = call.store.all("event")
    types = as_list(params, "types") or ([params["type"]] if params.get("type") else [])
    if types:
        items = [e for e in items if any(_type_matches(pattern, e["type"]) for pattern in types)]
    return paginate("/v1/events", items, params)


def _type_matches(pattern: str, event_type: str) -> bool:
    # Stripe allows one trailing wildcard, e.g. `invoice.*`.
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def create_endpoint(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    url = require(params, "url")
    events = [str(e) for e in as_list(params, "enabled_events")]
    if not events:
        raise StripeError.missing_param("enabled_events")
    endpoint = add_endpoint(
        call.store,
        url,
        enabled_events=events,
        description=params.get("description") or None,
        metadata=merge_metadata({}, params.get("metadata")),
        api_version=params.get("api_version") or None,
    )
    # Stripe reveals the signing secret in the create response only.
    return {**endpoint, "secret": call.store.webhook_secrets[endpoint["id"]]}


def add_endpoint(
    store: Store,
    url: str,
    *,
    secret: str | None = None,
    enabled_events: list[str] | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    api_version: str | None = None,
    keep: bool = False,
) -> dict[str, Any]:
    """Register a delivery target; `keep` ones (the fake's own configuration) survive reset()."""
    endpoint = store.create(
        "webhook_endpoint",
        {
            "url": url,
            "enabled_events": enabled_events or ["*"],
            "description": description,
            "metadata": metadata or {},
            "api_version": api_version,
            "application": None,
            "status": "enabled",
        },
    )
    store.webhook_secrets[endpoint["id"]] = secret or new_id("webhook_secret")
    if keep:
        store.kept_endpoints.add(endpoint["id"])
    return endpoint


def retrieve_endpoint(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return call.store.get("webhook_endpoint", id)


def update_endpoint(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    endpoint = call.store.get("webhook_endpoint", id)
    if params.get("url"):
        endpoint["url"] = params["url"]
    if "enabled_events" in params:
        endpoint["enabled_events"] = [str(e) for e in as_list(params, "enabled_events")]
    if "disabled" in params:
        endpoint["status"] = "disabled" if str(params["disabled"]).lower() == "true" else "enabled"
    if "description" in params:
        endpoint["description"] = params["description"] or None
    if "metadata" in params:
        endpoint["metadata"] = merge_metadata(endpoint["metadata"], params["metadata"])
    return endpoint


def delete_endpoint(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    call.store.get("webhook_endpoint", id)
    call.store.delete("webhook_endpoint", id)
    call.store.webhook_secrets.pop(id, None)
    return call.store.fixtures.build("deleted_webhook_endpoint", {"id": id})


def list_endpoints(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return paginate("/v1/webhook_endpoints", call.store.all("webhook_endpoint"), params)

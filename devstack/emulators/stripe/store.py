"""The fake's state, in memory: objects by resource, events, meter events, idempotency records.

All reads and writes happen on the server's event loop, inside handlers that never await, so each
API call is atomic without locks (tests drive the fake over HTTP, never by touching this directly).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from . import fixtures as fx
from .errors import StripeError
from .signing import build_event, default_api_version


@dataclass
class IdempotencyRecord:
    fingerprint: tuple[str, str, str]  # method, path, canonical params
    status: int
    body: bytes
    request_id: str


@dataclass
class Fault:
    """A scripted failure for matching requests (retry and ambiguous-timeout tests)."""

    path: str
    method: str = "POST"
    status: int = 500
    count: int = 1
    type: str = "api_error"
    message: str = "An unknown error occurred"
    code: str | None = None
    # "before": fail without executing. "after": execute (and record the idempotent result), then
    # answer with the failure, as when a response is lost: a retry with the same key gets the replay.
    when: str = "before"
    should_retry: bool | None = None

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and self.method.upper() == method.upper() and path.startswith(self.path)


@dataclass
class Store:
    fixtures: fx.Fixtures
    api_version: str | None = None
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # id -> resource
    checkout_items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # session -> items
    # What a session was created with that only matters at completion (subscription_data, …).
    checkout_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    meter_events: list[dict[str, Any]] = field(default_factory=list)
    webhook_secrets: dict[str, str] = field(default_factory=dict)  # we_… -> whsec_…
    # Endpoints given to the fake itself (constructor, /_fake/webhook_endpoints) outlive reset();
    # ones created through the API are state like any other object.
    kept_endpoints: set[str] = field(default_factory=set)
    account_links: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> link
    idempotency: dict[tuple[str, str, str], IdempotencyRecord] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    deliver_webhooks: bool = True
    portal_configuration: str = field(default_factory=lambda: fx.new_id("billing_portal.configuration"))

    def __post_init__(self) -> None:
        self.api_version = self.api_version or default_api_version()

    def reset(self) -> None:
        """Forget every object, event and record; the fake's own webhook endpoints and settings stay."""
        kept = [
            ep for ep in self.objects.get("webhook_endpoint", {}).values() if ep["id"] in self.kept_endpoints
        ]
        for name in (
            "objects",
            "owners",
            "checkout_items",
            "checkout_options",
            "deliveries",
            "account_links",
            "idempotency",
            "requests",
        ):
            getattr(self, name).clear()
        self.meter_events.clear()
        self.faults.clear()
        self.webhook_secrets = {k: v for k, v in self.webhook_secrets.items() if k in self.kept_endpoints}
        for endpoint in kept:
            self.save(endpoint)

    # --- objects ---------------------------------------------------------------------------------

    def create(self, resource: str, overlay: dict[str, Any], *, save: bool = True) -> dict[str, Any]:
        """A new object from the resource's fixture: fresh id, `created` now, test mode, `overlay` on top."""
        base: dict[str, Any] = {}
        keys = self.fixtures.keys(resource)
        if "id" in keys:
            base["id"] = fx.new_id(resource)
        if "created" in keys:
            base["created"] = int(time.time())
        if "livemode" in keys:
            base["livemode"] = False
        obj = self.fixtures.build(resource, {**base, **overlay})
        if save:
            self.save(obj)
        return obj

    def save(self, obj: dict[str, Any]) -> None:
        resource = obj["object"]
        self.objects.setdefault(resource, {})[obj["id"]] = obj
        self.owners[obj["id"]] = resource

    def get(self, resource: str, object_id: str, *, param: str = "id") -> dict[str, Any]:
        obj = self.objects.get(resource, {}).get(object_id)
        if obj is None:
            raise StripeError.missing(resource, object_id, param)
        return obj

    def find(self, object_id: str) -> dict[str, Any] | None:
        resource = self.owners.get(object_id)
        return None if resource is None else self.objects[resource].get(object_id)

    def all(self, resource: str) -> list[dict[str, Any]]:
        """Newest first, as Stripe lists."""
        return list(reversed(self.objects.get(resource, {}).values()))

    def delete(self, resource: str, object_id: str) -> None:
        self.objects.get(resource, {}).pop(object_id, None)
        self.owners.pop(object_id, None)

    # --- events ----------------------------------------------------------------------------------

    def endpoints_for(self, event_type: str) -> list[dict[str, Any]]:
        return [
            ep
            for ep in self.objects.get("webhook_endpoint", {}).values()
            if ep["status"] == "enabled"
            and ("*" in ep["enabled_events"] or event_type in ep["enabled_events"])
        ]

    def record_event(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        previous: dict[str, Any] | None = None,
        request_id: str | None = None,
        idempotency_key: str | None = None,
        account: str | None = None,
    ) -> dict[str, Any]:
        event = build_event(
            event_type,
            obj,
            previous_attributes=previous,
            api_version=self.api_version,
            request_id=request_id,
            idempotency_key=idempotency_key,
            pending_webhooks=len(self.endpoints_for(event_type)) if self.deliver_webhooks else 0,
            account=account,
            fixtures=self.fixtures,
        )
        self.save(event)  # also what GET /v1/events serves
        return event


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """`previous_attributes`: the old values of the top-level fields that changed."""
    return {key: before.get(key) for key in after if before.get(key) != after.get(key)}

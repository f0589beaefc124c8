"""One API call's context: who called, the request's ids, and the events it caused."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .store import Store


@dataclass
class Call:
    store: Store
    base_url: str  # where this fake is reachable, for the hosted-page urls it hands out
    api_key: str = ""
    request_id: str | None = None
    idempotency_key: str | None = None
    stripe_account: str | None = None
    emitted: list[dict[str, Any]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        previous: dict[str, Any] | None = None,
        *,
        account: str | None = None,
    ) -> dict[str, Any]:
        """Record an event (delivered after the call's response is decided)."""
        event = self.store.record_event(
            event_type,
            obj,
            previous=previous,
            request_id=self.request_id,
            idempotency_key=self.idempotency_key,
            account=account,
        )
        self.emitted.append(event)
        return event


@dataclass
class Runtime:
    """What every route of one fake instance shares (kept on `app.state.fake`)."""

    store: Store
    deliverer: Any  # webhooks.Deliverer; Any to keep this module free of the HTTP client import
    api_key: str | None = None  # None: any test-mode secret or restricted key is accepted

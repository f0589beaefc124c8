"""Webhook delivery: each event POSTed, signed, to every enabled endpoint that wants its type.

Events caused by an API call are delivered in the background after the response (Stripe is
asynchronous too, and a handler that calls back into the fake must not deadlock). `/_fake/`
controls wait for their own deliveries so tests are deterministic; `POST /_fake/webhooks/flush`
waits for everything in flight. Failed deliveries (non-2xx or no connection) are retried a few
times with a short backoff; results are kept per event (`GET /_fake/events/{id}`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from .signing import sign_event
from .store import Store


class Deliverer:
    def __init__(
        self, store: Store, *, retries: int = 2, backoff: float = 0.2, timeout: float = 10.0
    ) -> None:
        self.store = store
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._tail: asyncio.Task[None] | None = None

    def schedule(
        self, events: list[dict[str, Any]], deliver: bool | None = None
    ) -> asyncio.Task[None] | None:
        """Deliver `events` in order, in the background; returns the task (or None if nothing to do).

        `deliver` overrides the store's switch for this batch (`deliver=false` on a control).
        """
        if not events or not (self.store.deliver_webhooks if deliver is None else deliver):
            return None
        # Each batch waits for the one before: endpoints see events in the order they happened, which
        # keeps tests deterministic (Stripe promises no order; test reordering with deliver=false).
        task = asyncio.get_running_loop().create_task(self._deliver_in_order(events, self._tail))
        self._tail = task
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def flush(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def aclose(self) -> None:
        await self.flush()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _deliver_in_order(
        self, events: list[dict[str, Any]], previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        for event in events:
            await self.deliver(event)

    async def deliver(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        results = []
        for endpoint in self.store.endpoints_for(event["type"]):
            result = await self._deliver_one(event, endpoint)
            self.store.deliveries.setdefault(event["id"], []).append(result)
            if result["ok"] and event.get("pending_webhooks", 0) > 0:
                event["pending_webhooks"] -= 1
            results.append(result)
        return results

    async def _deliver_one(self, event: dict[str, Any], endpoint: dict[str, Any]) -> dict[str, Any]:
        secret = self.store.webhook_secrets[endpoint["id"]]
        client = self._http()
        status: int | None = None
        error: str | None = None
        attempts = 0
        for attempt in range(self.retries + 1):
            attempts = attempt + 1
            # Signed per attempt: Stripe's timestamp is the time of each delivery attempt.
            body, headers = sign_event(event, secret)
            try:
                response = await client.post(endpoint["url"], content=body, headers=headers)
                status, error = response.status_code, None
                if 200 <= status < 300:
                    break
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            if attempt < self.retries:
                await asyncio.sleep(self.backoff * (2**attempt))
        return {
            "endpoint": endpoint["id"],
            "url": endpoint["url"],
            "status": status,
            "ok": status is not None and 200 <= status < 300,
            "attempts": attempts,
            "error": error,
            "at": int(time.time()),
        }

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # trust_env=False: a proxy set in the environment must not swallow local deliveries.
            self._client = httpx.AsyncClient(timeout=self.timeout, trust_env=False)
        return self._client

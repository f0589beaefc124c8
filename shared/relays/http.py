"""The one HTTP client the relays that speak plain HTTP (WhatsApp's Graph API, Discord's REST API) send
through; Telegram and Slack go through their official SDKs. Made on first send, not at import (the
intake functions never send)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

_lock = threading.Lock()
_client: httpx.Client | None = None


def client() -> httpx.Client:
    global _client
    import httpx

    with _lock:
        if _client is None:
            _client = httpx.Client(timeout=httpx.Timeout(20, connect=10), trust_env=False)
        return _client


def never_sent(exc: Exception) -> bool:
    """Whether an httpx failure came before the request could reach the server (no connection, no
    free connection): only then is trying again sure not to send twice."""
    import httpx

    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout | httpx.UnsupportedProtocol)

"""The one HTTP client to model providers (made on first use; httpx loads only then).

Providers stream for minutes and go quiet while they think, so reads may wait LLM_UPSTREAM_TIMEOUT_S;
connecting may not. Responses are asked for uncompressed, so bytes relayed to the machine are the
bytes the provider sent and their usage can be read on the way.

Making the client costs 30-70 ms (its TLS context loads the CA bundle), which the first forwarded call
of a process would wait for: the proxy makes it while it answers a warm-pool unit's warm-up call
(`proxy.forward`), so a function that warmed a unit has it ready for the hire's first call.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

_client: httpx.Client | None = None
_lock = threading.Lock()


def client() -> httpx.Client:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                import httpx

                from shared.config import get_settings

                read = get_settings().LLM_UPSTREAM_TIMEOUT_S
                _client = httpx.Client(
                    timeout=httpx.Timeout(connect=10.0, read=read, write=30.0, pool=10.0),
                    limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                    headers={"Accept-Encoding": "identity"}, trust_env=False, follow_redirects=False)
    return _client


def made() -> bool:
    """Whether this process has made the client yet."""
    return _client is not None


def reset() -> None:
    """Drops the client (tests that change the timeout or the upstream)."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None

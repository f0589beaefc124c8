"""The connection from the API to the agent machine's bridge, through the SSE gateway.

The API signs a short-lived stream token for the instance; the gateway answers `fly-replay` and
Fly's proxy replays the request to the machine. The instance's gateway token (from Vault) rides in
`Authorization` for the bridge; it is never logged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from shared.config import get_settings
from shared.problems import Problem, unavailable
from shared.streaming import sse

if TYPE_CHECKING:
    import httpx

# The bridge sends a heartbeat every 15 s; silence for longer than this means the stream is dead.
READ_TIMEOUT_S = 60.0
_client: httpx.Client | None = None
_lock = threading.Lock()


class MachineTarget(Protocol):
    """What `shared.lifecycle.machine_target` returns."""

    @property
    def instance_id(self) -> str: ...
    @property
    def app(self) -> str: ...
    @property
    def machine_id(self) -> str: ...
    @property
    def gateway_token(self) -> str: ...


class UpstreamError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


def _http() -> httpx.Client:
    global _client
    if _client is None:
        import httpx

        with _lock:
            if _client is None:
                _client = httpx.Client(timeout=httpx.Timeout(10.0, read=READ_TIMEOUT_S),
                                       limits=httpx.Limits(max_connections=500, max_keepalive_connections=100))
    return _client


@contextmanager
def open_turn_stream(target: MachineTarget, *, turn_id: str, session_key: str, message: str,
                     channel: str = "web") -> Iterator[Iterator[sse.Event | sse.Comment]]:
    import httpx  # imported on the first turn, not at cold start

    from shared.streaming import tokens

    settings = get_settings()
    if not settings.SSE_GATEWAY_URL or not settings.STREAM_TOKEN_PRIVATE_KEY:
        raise UpstreamError(unavailable("Chat streaming is not configured (SSE_GATEWAY_URL).", code="not-configured"))
    token = tokens.sign(tokens.StreamTarget(target.instance_id, target.app, target.machine_id, turn_id),
                        settings.STREAM_TOKEN_PRIVATE_KEY.get_secret_value())
    body = {"turn_id": turn_id, "session_key": session_key, "message": message, "channel": channel}
    headers = {"x-stream-token": token, "Authorization": f"Bearer {target.gateway_token}",
               "Accept": "text/event-stream"}
    try:
        with _http().stream("POST", settings.SSE_GATEWAY_URL.rstrip("/") + "/v1/turns", json=body,
                            headers=headers) as resp:
            if resp.status_code != 200:
                resp.read()
                raise UpstreamError(Problem(502, "Bad Gateway", f"The agent answered {resp.status_code}.",
                                            code="agent-unavailable"))
            yield sse.parse(resp.iter_lines())
    except httpx.TimeoutException:
        raise UpstreamError(Problem(504, "Gateway Timeout", "The agent stopped responding.",
                                    code="agent-timeout")) from None
    except httpx.HTTPError:
        raise UpstreamError(Problem(502, "Bad Gateway", "The agent could not be reached.",
                                    code="agent-unavailable")) from None

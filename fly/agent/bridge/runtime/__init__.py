"""Agent runtimes behind the bridge: `offline` (a deterministic model) and `openclaw` (the real gateway).

A runtime turns one user message into an async stream of `(event, data)` pairs — `token`, `tool`,
then exactly one terminal `done` or `error` — and says whether it is ready. Closing the stream early
(the caller's `aclose()`) cancels the run upstream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

Event = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class TurnRequest:
    turn_id: str
    session_key: str
    message: str
    channel: str = "web"


class Runtime(Protocol):
    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """(ready, details for GET /ready)."""
        ...

    def run_turn(self, request: TurnRequest) -> AsyncIterator[Event]: ...


def make_runtime(config: Any) -> Runtime:
    if config.runtime == "openclaw":
        from fly.agent.bridge.runtime.openclaw import OpenClawRuntime

        return OpenClawRuntime.from_config(config)
    from fly.agent.bridge.runtime.offline import OfflineRuntime

    return OfflineRuntime(interval_ms=config.offline_token_interval_ms, tokens=config.offline_tokens)

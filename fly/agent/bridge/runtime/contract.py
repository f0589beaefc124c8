"""What a runtime is to the bridge: one user message in (`TurnRequest`), an async stream of
`(event, data)` pairs out — `token`, `tool`, then exactly one terminal `done` or `error` — and whether
it is ready. Closing the stream early (the caller's `aclose()`) cancels the run upstream."""

from __future__ import annotations

from collections.abc import AsyncGenerator
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

    def run_turn(self, request: TurnRequest) -> AsyncGenerator[Event, None]: ...

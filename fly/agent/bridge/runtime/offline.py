"""The offline runtime: a deterministic model at a fixed token pace — no network, no Node (§2).

The answer depends only on the message: `offline_answer(message, n)` gives its tokens, so other tests
can compute the expected text. Markers in the message drive the test scenarios:

    TOOLTEST      a `tool` start/result pair (tool `offline_lookup`) before the answer
    FAILTEST      an `error` event (with the usage so far) after half of the answer's tokens (no `done`)
    TOKENS=<n>    answer with n tokens instead of OFFLINE_TOKENS (1…100000)
    PAUSE=<ms>    think for that long before the first token (no output meanwhile — heartbeat tests)

Usage: `input_tokens` = 12 + ceil(UTF-8 bytes of the message / 4); `output_tokens` = tokens emitted.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections.abc import AsyncGenerator
from typing import Any

from fly.agent.bridge.runtime.contract import Event, TurnRequest
from shared.bridge import protocol

TOOL_MARKER = "TOOLTEST"
FAIL_MARKER = "FAILTEST"
TOOL_NAME = "offline_lookup"
_TOKENS_RE = re.compile(r"\bTOKENS=(\d{1,6})\b")
_PAUSE_RE = re.compile(r"\bPAUSE=(\d{1,7})\b")

_VOCABULARY = (
    "agent", "answer", "bright", "calm", "clear", "cloud", "data", "deep", "early", "echo", "field",
    "fresh", "gentle", "green", "harbor", "idea", "join", "keen", "light", "local", "maple", "model",
    "north", "ocean", "open", "plain", "quiet", "rapid", "river", "signal", "simple", "steady", "stone",
    "stream", "summit", "task", "thread", "token", "trail", "useful", "valley", "vivid", "warm", "wave",
    "window", "wise", "yellow", "zest", "atlas", "bridge", "canvas", "delta", "ember", "forest", "garden",
    "horizon", "island", "jasmine", "kernel", "lantern", "meadow", "nimble", "orbit", "pixel",
)


def offline_answer(message: str, n_tokens: int) -> list[str]:
    """The tokens the offline model answers `message` with (joined, they are the text)."""
    digest = hashlib.sha256(message.encode("utf-8")).digest()
    out: list[str] = []
    for i in range(n_tokens):
        if i % 32 == 0 and i:
            digest = hashlib.sha256(digest).digest()
        word = _VOCABULARY[digest[i % 32] % len(_VOCABULARY)]
        out.append(("Offline " + word) if i == 0 else (" " + word + ("." if i == n_tokens - 1 else "")))
    return out


def input_tokens(message: str) -> int:
    return 12 + math.ceil(len(message.encode("utf-8")) / 4)


class OfflineRuntime:
    name = "offline"

    def __init__(self, interval_ms: float = 20.0, tokens: int = 24) -> None:
        self.interval_s = max(0.0, interval_ms) / 1000
        self.tokens = max(1, tokens)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        return True, {"token_interval_ms": self.interval_s * 1000, "tokens": self.tokens}

    def n_tokens(self, message: str) -> int:
        m = _TOKENS_RE.search(message)
        return max(1, min(100_000, int(m.group(1)))) if m else self.tokens

    async def run_turn(self, request: TurnRequest) -> AsyncGenerator[Event, None]:
        message = request.message
        pause = _PAUSE_RE.search(message)
        if pause:
            await asyncio.sleep(int(pause.group(1)) / 1000)
        if TOOL_MARKER in message:
            call_id = "call_" + hashlib.sha256(f"{request.turn_id}:tool".encode()).hexdigest()[:16]
            args = {"query": message[:200]}
            yield protocol.TOOL, {"name": TOOL_NAME, "phase": protocol.TOOL_START, "call_id": call_id, "args": args}
            await asyncio.sleep(self.interval_s)
            yield protocol.TOOL, {"name": TOOL_NAME, "phase": protocol.TOOL_RESULT, "call_id": call_id, "is_error": False,
                           "result": f"{TOOL_NAME} found 3 results"}
        tokens = offline_answer(message, self.n_tokens(message))
        fail_at = len(tokens) // 2 if FAIL_MARKER in message else None
        emitted = 0
        for i, text in enumerate(tokens):
            if fail_at is not None and i == fail_at:
                yield protocol.ERROR, {"title": "Model provider failed",
                                       "detail": "simulated upstream failure (FAILTEST)",
                                       "usage": {"input_tokens": input_tokens(message), "output_tokens": emitted}}
                return
            await asyncio.sleep(self.interval_s)  # sleep(0) still lets other streams run
            yield protocol.TOKEN, {"text": text}
            emitted += 1
        yield protocol.DONE, {"usage": {"input_tokens": input_tokens(message), "output_tokens": emitted}}

"""Reading what a provider reports a call used, from its JSON answer or as its stream goes by.

    OpenAI-compatible   `usage.prompt_tokens` / `completion_tokens`; in a stream, the chunk carrying
                        `usage` (the proxy asks for it: `stream_options.include_usage`)
    Anthropic           `usage.input_tokens` (+ cache creation and cache reads, priced as input) /
                        `output_tokens`; in a stream, `message_start` then `message_delta` (cumulative)

A call whose provider reported nothing (a stream cut off before its usage) is counted from what went
by: output tokens = content deltas seen, input tokens = the request's bytes / 4 — a lower bound,
like the chat's own fallback. `reported` tells the two apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.llm.providers import Dialect


@dataclass(frozen=True, slots=True)
class CallUsage:
    response_id: str | None
    model: str
    input_tokens: int
    output_tokens: int
    reported: bool


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value))


def _anthropic_input(usage: dict[str, Any]) -> int:
    return (_int(usage.get("input_tokens")) + _int(usage.get("cache_creation_input_tokens"))
            + _int(usage.get("cache_read_input_tokens")))


def from_json(dialect: Dialect, body: bytes, model: str, estimated_input: int) -> CallUsage:
    """A complete (non-streamed) answer's usage."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return CallUsage(None, model, estimated_input, 0, False)
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    rid = data.get("id") if isinstance(data.get("id"), str) else None
    reported_model = data.get("model")
    name = reported_model if isinstance(reported_model, str) else model
    if usage is None:
        return CallUsage(rid, name, estimated_input, 0, False)
    if dialect == "anthropic":
        return CallUsage(rid, name, _anthropic_input(usage), _int(usage.get("output_tokens")), True)
    return CallUsage(rid, name, _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")), True)


class StreamMeter:
    """Fed the stream's bytes as they pass; `result()` is the call's usage so far."""

    def __init__(self, dialect: Dialect, model: str, estimated_input: int) -> None:
        self.dialect = dialect
        self.model = model
        self.estimated_input = estimated_input
        self.response_id: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.deltas = 0
        self._buffer = b""

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            line = line.strip()
            if line.startswith(b"data:"):
                self._data(line[5:].strip())
        if len(self._buffer) > 1 << 20:  # a line this long is no SSE we can read; stop buffering it
            self._buffer = b""

    def _data(self, raw: bytes) -> None:
        if not raw or raw == b"[DONE]":
            return
        try:
            event = json.loads(raw)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        if self.dialect == "anthropic":
            self._anthropic(event)
        else:
            self._openai(event)

    def _openai(self, event: dict[str, Any]) -> None:
        if self.response_id is None and isinstance(event.get("id"), str):
            self.response_id = event["id"]
        if isinstance(event.get("model"), str) and event["model"]:
            self.model = event["model"]
        usage = event.get("usage")
        if isinstance(usage, dict):
            self.input_tokens = _int(usage.get("prompt_tokens"))
            self.output_tokens = _int(usage.get("completion_tokens"))
        for choice in event.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and (delta.get("content") or delta.get("tool_calls")):
                self.deltas += 1

    def _anthropic(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            message = event["message"]
            if isinstance(message.get("id"), str):
                self.response_id = message["id"]
            if isinstance(message.get("model"), str) and message["model"]:
                self.model = message["model"]
            usage = message.get("usage")
            if isinstance(usage, dict):
                self.input_tokens = _anthropic_input(usage)
                self.output_tokens = _int(usage.get("output_tokens"))
        elif kind == "message_delta" and isinstance(event.get("usage"), dict):
            usage = event["usage"]
            self.output_tokens = _int(usage.get("output_tokens"))
            if "input_tokens" in usage:  # newer API versions repeat the (final) input count here
                self.input_tokens = _anthropic_input(usage)
        elif kind == "content_block_delta":
            self.deltas += 1

    def result(self) -> CallUsage:
        reported = self.input_tokens is not None and self.output_tokens is not None
        return CallUsage(
            response_id=self.response_id, model=self.model,
            input_tokens=self.input_tokens if self.input_tokens is not None else self.estimated_input,
            output_tokens=max(self.output_tokens or 0, 0 if reported else self.deltas),
            reported=reported)

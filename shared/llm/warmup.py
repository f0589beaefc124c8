"""The proxy's own answer to a warm-pool unit that nobody has claimed yet (issue 14 item 3a).

A unit is booted, given a warm-up turn and suspended before anyone hires it, so that OpenClaw's
first-turn setup is not paid for on the hire's first turn. Its proxy token acts for no instance then
(`tokens.resolve` gives None) — and OpenClaw answers a 401 by disabling the provider key for about a
minute, which would break the hire's own turn. So a model call made with an unclaimed unit's token
(`tokens.unclaimed_unit`) is answered here, in the dialect's wire format, streamed or whole: a short
fixed text, no provider call, no usage recorded, nothing charged. OpenClaw's own background calls
(heartbeat) made while the unit is unclaimed get the same answer. Once claimed, the token is the
instance's and is forwarded and metered like any other.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Response

from shared import logs
from shared.llm.providers import Dialect

log = logging.getLogger("openagents.llm")

REPLY = "OK"


def answer(dialect: Dialect, model: str, *, stream: bool, include_usage: bool, unit_id: str) -> Response:
    logs.log(log, logging.INFO, "warm-up call answered by the proxy", unit_id=unit_id, dialect=dialect,
             stream=stream)
    if dialect == "anthropic":
        if stream:
            return _sse(_anthropic_events(model))
        return Response(json.dumps(_anthropic_message(model)), content_type="application/json")
    if stream:
        return _sse(_openai_chunks(model, include_usage=include_usage))
    return Response(json.dumps(_openai_completion(model)), content_type="application/json")


def _sse(body: Iterator[bytes]) -> Response:
    return Response(body, content_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _openai_completion(model: str) -> dict[str, Any]:
    return {"id": "chatcmpl-warmup-" + uuid.uuid4().hex, "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}


def _openai_chunks(model: str, *, include_usage: bool) -> Iterator[bytes]:
    base = {"id": "chatcmpl-warmup-" + uuid.uuid4().hex, "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + json.dumps(obj).encode() + b"\n\n"

    yield chunk({"role": "assistant", "content": ""})
    yield chunk({"content": REPLY})
    yield chunk({}, "stop")
    if include_usage:
        usage = {**base, "choices": [], "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}
        yield b"data: " + json.dumps(usage).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


def _anthropic_message(model: str) -> dict[str, Any]:
    return {"id": "msg_warmup_" + uuid.uuid4().hex[:24], "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": REPLY}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0}}


def _anthropic_events(model: str) -> Iterator[bytes]:
    def event(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

    message = {**_anthropic_message(model), "content": [], "stop_reason": None}
    yield event("message_start", {"message": message})
    yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    yield event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": REPLY}})
    yield event("content_block_stop", {"index": 0})
    yield event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": 0}})
    yield event("message_stop", {})

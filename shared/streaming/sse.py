"""Server-sent events: encoding for browsers and parsing of the bridge's stream."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

HEARTBEAT = b": keepalive\n\n"
# Headers that keep proxies (Vercel, nginx, Fly) from buffering a stream.
STREAM_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


def encode(event: str, data: Any, event_id: int | None = None) -> bytes:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    payload = json.dumps(data, separators=(",", ":"), default=str)
    lines.extend(f"data: {line}" for line in payload.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


@dataclass(slots=True)
class Event:
    event: str
    data: Any
    id: str | None = None


@dataclass(slots=True)
class Comment:
    text: str


def parse(lines: Iterable[str]) -> Iterator[Event | Comment]:
    """Parses an SSE stream line by line (as httpx's `iter_lines` yields them)."""
    event, data, eid = "message", [], None
    for raw in lines:
        line = raw.rstrip("\r")
        if line == "":
            if data:
                text = "\n".join(data)
                try:
                    payload: Any = json.loads(text)
                except ValueError:
                    payload = text
                yield Event(event, payload, eid)
            event, data, eid = "message", [], None
            continue
        if line.startswith(":"):
            yield Comment(line[1:].strip())
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            eid = value
    if data:
        yield Event(event, "\n".join(data), eid)

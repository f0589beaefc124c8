"""Server-sent events toward browsers. The framing itself (encoding, line splitting, parsing) is the
bridge protocol's (`shared.bridge.protocol`): the API speaks it to browsers exactly as the bridge
speaks it to the API, so it is written once."""

from __future__ import annotations

from shared.bridge.protocol import HEARTBEAT, Comment, Event, parse, split_lines
from shared.bridge.protocol import format_event as encode

# Headers that keep proxies (Vercel, nginx, Fly) from buffering a stream.
STREAM_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}

__all__ = ["HEARTBEAT", "STREAM_HEADERS", "Comment", "Event", "encode", "parse", "split_lines"]

"""Persisting a turn's events in frames: `turn_events` rows, the growing assistant message and one
Realtime broadcast on `session:{id}` per frame (~50 ms), never a row per token."""

from __future__ import annotations

import json
import time
from typing import Any

from shared.data import get_db
from shared.streaming import sse

FRAME_S = 0.05
PROMPT_EVENTS = {"session", "status", "tool", "done", "error"}  # flushed at once: other devices care
# …except a turn's lead-in: `session` and the bridge's `status` come just before the first token, and
# flushing them then would put a database round trip in front of it. They wait for the first token
# (then go with it, right after it is relayed), up to one frame.
LEAD_IN = {"session", "status"}


class TurnWriter:
    def __init__(self, *, turn_id: str, session_id: str, user_id: str, start_seq: int = 0,
                 frame_s: float = FRAME_S) -> None:
        self.turn_id = turn_id
        self.session_id = session_id
        self.user_id = user_id
        self.seq = start_seq
        self.frame_s = frame_s
        self._pending: list[dict[str, Any]] = []
        self._text: list[str] = []
        self._tools: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()
        self._interval = frame_s
        self._urgent = False
        self._lead_in = True
        self._lead_in_at = 0.0

    def emit(self, event: str, data: Any) -> bytes:
        """Numbers and buffers one event; returns its SSE bytes for the browser."""
        self.seq += 1
        self._pending.append({"id": self.seq, "event": event, "data": data})
        if event == "token":
            self._text.append(str(data.get("text", "")))
        elif event == "tool":
            self._tools.append(data)
        if event not in LEAD_IN:
            self._lead_in = False
        elif self._lead_in:
            self._lead_in_at = time.monotonic()  # the frame it may wait counts from its latest event
        if event in PROMPT_EVENTS:
            self._urgent = True
        return sse.encode(event, data, self.seq)

    def maybe_flush(self) -> None:
        if not self._pending:
            return
        now = time.monotonic()
        if self._lead_in and now - self._lead_in_at < self.frame_s:
            return
        if self._urgent or now - self._last_flush >= self._interval:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        events, text, tools = self._pending, "".join(self._text), self._tools
        self._pending, self._text, self._tools, self._urgent = [], [], [], False
        started = self._last_flush = time.monotonic()
        # One round trip, and the events' JSON made once (stored and broadcast as it is): a frame is
        # most of what a relayed token costs the API (issue 14).
        get_db().service_send("turn_frame", turn_id=self.turn_id, user_id=self.user_id, session_id=self.session_id,
                              events=json.dumps(events, default=str), last_seq=self.seq, text=text,
                              tools=json.dumps(tools, default=str), topic=f"session:{self.session_id}")
        # Under load a frame write slows down; frames then grow instead of the database queue.
        self._interval = max(self.frame_s, 3 * (time.monotonic() - started))

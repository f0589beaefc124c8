"""Resuming a turn's stream (`Last-Event-ID`) and following a session live from another device.

Both read what the streaming function persisted: `turn_events` for replay, and the frames it
broadcast with `realtime.send` (delivered locally through `pg_notify('realtime', …)`) to wake up for
the live tail. LISTEN is only a wake-up: the rows are the source of truth, so a missed
notification costs at most one poll interval.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from shared.auth import User
from shared.data import get_db
from shared.problems import not_found
from shared.streaming import sse

POLL_S = 0.25
HEARTBEAT_S = 15.0
FOLLOW_MAX_S = 280.0  # under a serverless function's limit; clients reconnect
TERMINAL = {"done", "error"}
FOLLOW_MARK_S = 2.0


def check_turn(user: User, turn_id: str) -> dict[str, Any]:
    with get_db().user(user.claims) as tx:
        turn = tx.one("turn_for_user", turn_id=turn_id)
    if turn is None:
        raise not_found("turn")
    return turn


def replay_turn(user: User, turn_id: str, after: int) -> Iterator[bytes]:
    db = get_db()
    last_beat = time.monotonic()
    idle_polls = 0
    last_mark = 0.0
    with db.listen("realtime") as listener:
        while True:
            if time.monotonic() - last_mark >= FOLLOW_MARK_S:
                # Tells the streaming function someone follows, so it runs the turn to its end.
                with db.service() as tx:
                    tx.execute("turn_followed", turn_id=turn_id)
                last_mark = time.monotonic()
            with db.user(user.claims) as tx:
                rows = tx.all("turn_events_after", turn_id=turn_id, after=after)
                turn = tx.one("turn_for_user", turn_id=turn_id)
            for r in rows:
                yield sse.encode(r["event"], r["data"], r["seq"])
                after = r["seq"]
                if r["event"] in TERMINAL:
                    return
            if turn is None:
                return
            if turn["status"] != "streaming":
                # Finished without a terminal event (interrupted): one more look, then close.
                idle_polls = idle_polls + 1 if not rows else 0
                if idle_polls >= 2:
                    return
            if time.monotonic() - last_beat >= HEARTBEAT_S:
                yield sse.HEARTBEAT
                last_beat = time.monotonic()
            for _ in listener.notifies(timeout=POLL_S, stop_after=1):
                pass


def check_session(user: User, session_id: str) -> None:
    with get_db().user(user.claims) as tx:
        if tx.one("session_for_user", session_id=session_id) is None:
            raise not_found("session")


def follow_session(user: User, session_id: str, *, max_s: float = FOLLOW_MAX_S) -> Iterator[bytes]:
    """Every frame broadcast on `session:{id}`, as `turn` events carrying `{turn_id, events}`."""
    db = get_db()
    topic = f"session:{session_id}"
    deadline = time.monotonic() + max_s
    with db.listen("realtime") as listener:
        yield b": following\n\n"
        while time.monotonic() < deadline:
            got = False
            for note in listener.notifies(timeout=HEARTBEAT_S, stop_after=1):
                got = True
                try:
                    msg = json.loads(note.payload)
                except ValueError:
                    continue
                if msg.get("topic") != topic:
                    continue
                payload = msg.get("payload")
                if payload is None and msg.get("id"):  # too big for NOTIFY: read it back
                    with db.service() as tx:
                        row = tx.one("realtime_message_by_id", id=msg["id"])
                    payload = row["payload"] if row else None
                if payload is not None:
                    yield sse.encode(msg.get("event") or "turn", payload)
            if not got:
                yield sse.HEARTBEAT

"""Resuming a turn's stream (`Last-Event-ID`) and following a session live from another device.

Both read what the streaming function (or the worker continuing a handed-off turn) persisted in
`turn_events`, as the user, in short pooled transactions: a stream holds no connection while it
waits. What wakes them is the process's one listener (`shared.chat.listener`): the frames broadcast
with `realtime.send` (delivered locally through `pg_notify('realtime', …)`) only say "look now" — a
notification's payload is never relayed, since any role may call `pg_notify` — and a missed one costs
at most CHAT_STREAM_POLL_S, the interval at which streams look anyway.

Neither outlives its function: each ends cleanly (no terminal event) at the function's deadline
(`shared.chat.handoff.deadline`), and the client reconnects — a resume with the last id it got.
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

HEARTBEAT_S = 15.0
TERMINAL = {"done", "error"}
FOLLOW_MARK_S = 2.0


def _poll_s() -> float:
    from shared.config import get_settings

    return get_settings().CHAT_STREAM_POLL_S


def check_turn(user: User, turn_id: str) -> dict[str, Any]:
    with get_db().user(user.claims) as tx:
        turn = tx.one("turn_for_user", turn_id=turn_id)
    if turn is None:
        raise not_found("turn")
    return turn


def replay_turn(user: User, turn_id: str, after: int, *, deadline: float | None = None) -> Iterator[bytes]:
    """The turn's events after `after`, then its live tail, until its terminal event or `deadline`
    (monotonic; default: the function's)."""
    from shared.chat import handoff, listener

    db = get_db()
    end = handoff.deadline() if deadline is None else deadline
    poll = _poll_s()
    with db.user(user.claims) as tx:
        turn = tx.one("turn_for_user", turn_id=turn_id)
    if turn is None:
        return
    with listener.subscribe(f"session:{turn['session_id']}") as wakeups:
        last_beat = time.monotonic()
        last_mark = float("-inf")
        finished_seen = False
        while True:
            if turn["status"] == "streaming" and time.monotonic() - last_mark >= FOLLOW_MARK_S:
                # Tells the streaming function someone follows, so it runs the turn to its end.
                with db.service() as tx:
                    tx.execute("turn_followed", turn_id=turn_id)
                last_mark = time.monotonic()
            with db.user(user.claims) as tx:
                rows = tx.all("turn_events_after", turn_id=turn_id, after=after)
                turn = tx.one("turn_for_user", turn_id=turn_id)
            last_look = time.monotonic()
            for r in rows:
                yield sse.encode(r["event"], r["data"], r["seq"])
                after = r["seq"]
                if r["event"] in TERMINAL:
                    return
            if turn is None:
                return
            if turn["status"] != "streaming":
                # Finished without a terminal event (interrupted). Its last frame was committed before
                # the status this look read, maybe after the rows it read: look until one comes back empty.
                if finished_seen and not rows:
                    return
                finished_seen = True
                continue
            if len(rows) >= 1000:  # the query's page size: more is waiting
                continue
            now = time.monotonic()
            if now >= end:
                return  # the function's time is up: the client resumes after the last id it got
            if now - last_beat >= HEARTBEAT_S:
                yield sse.HEARTBEAT
                last_beat = now
            wait_until = min(last_look + poll, last_mark + FOLLOW_MARK_S, last_beat + HEARTBEAT_S, end)
            wakeups.wait(wait_until - time.monotonic())


def check_session(user: User, session_id: str) -> None:
    with get_db().user(user.claims) as tx:
        if tx.one("session_for_user", session_id=session_id) is None:
            raise not_found("session")


def follow_session(user: User, session_id: str, *, max_s: float | None = None) -> Iterator[bytes]:
    """The session's turns as they stream, as `turn` events carrying `{turn_id, session_id, events}`,
    for `max_s` seconds (default: until the function's deadline; clients reconnect).

    A notification on `session:{id}` only says "look now": what is sent is read back from
    `turn_events` as the user, because anyone who can `pg_notify` could forge a payload."""
    from shared.chat import handoff, listener

    end = handoff.deadline() if max_s is None else time.monotonic() + max_s
    poll = _poll_s()
    with get_db().user(user.claims) as tx:
        start = tx.one("session_follow_start", session_id=session_id)
    assert start is not None  # an aggregate: always one row
    since, seen = start["since"], {str(k): int(v) for k, v in (start["seen"] or {}).items()}
    with listener.subscribe(f"session:{session_id}") as wakeups:
        yield b": following\n\n"
        last_beat = time.monotonic()
        look = True  # a frame written before the subscription has no notification left to wake us
        while True:
            if look:
                yield from _session_tail(user, session_id, since, seen)
                last_look = time.monotonic()
            now = time.monotonic()
            if now >= end:
                return
            if now - last_beat >= HEARTBEAT_S:
                yield sse.HEARTBEAT
                last_beat = now
            woken = wakeups.wait(min(last_look + poll, last_beat + HEARTBEAT_S, end) - time.monotonic())
            look = woken or time.monotonic() - last_look >= poll


def _session_tail(user: User, session_id: str, since: Any, seen: dict[str, int]) -> Iterator[bytes]:
    """Sends every event written since the last look, one `turn` event per turn; updates `seen`."""
    while True:
        with get_db().user(user.claims) as tx:
            rows = tx.all("session_events_since", session_id=session_id, since=since, seen=json.dumps(seen))
        frames: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            turn_id = str(r["turn_id"])
            frames.setdefault(turn_id, []).append({"id": r["seq"], "event": r["event"], "data": r["data"]})
            seen[turn_id] = r["seq"]
        for turn_id, events in frames.items():
            yield sse.encode("turn", {"turn_id": turn_id, "session_id": session_id, "events": events})
        if len(rows) < 1000:  # the query's page size: a full page means more is waiting
            return

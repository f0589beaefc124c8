"""Forged live frames: only server paths broadcast, and a follower relays rows, never a notification."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from typing import Any

import psycopg
import pytest

from shared.config import get_settings

SEND = "select realtime.send(%s::jsonb, 'turn', %s, true)"


@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_realtime_send_is_refused_to_api_roles(database, role):
    with psycopg.connect(database.url) as conn:
        conn.execute(f"set role {role}")
        conn.execute("select set_config('request.jwt.claims', %s, true)",
                     (json.dumps({"sub": str(uuid.uuid4()), "role": role}),))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(SEND, (json.dumps({"events": [{"event": "token", "data": {"text": "forged"}}]}),
                                f"session:{uuid.uuid4()}"))


def test_realtime_send_works_for_the_service_role(db):
    with db.service() as tx:
        tx.sql(SEND, (json.dumps({"ok": True}), f"session:{uuid.uuid4()}"))


def _follow(user: Any, session_id: str, out: queue.Queue[bytes | None], stop: threading.Event) -> threading.Thread:
    """Runs the follower in a thread until `stop` is set and it yields once more (then closes it)."""
    from shared.auth import verify_access_token
    from shared.chat import replay

    me = verify_access_token(user.token, get_settings())

    def run() -> None:
        stream = replay.follow_session(me, session_id, max_s=60)
        try:
            for chunk in stream:
                if stop.is_set():
                    break
                out.put(chunk)
        finally:
            stream.close()
            out.put(None)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _frames(out: queue.Queue[bytes | None], until: str, timeout: float = 15) -> list[dict[str, Any]]:
    from shared.streaming import sse

    frames: list[dict[str, Any]] = []
    while True:
        chunk = out.get(timeout=timeout)
        assert chunk is not None, "the follower ended early"
        for ev in sse.parse(chunk.decode().split("\n")):
            if isinstance(ev, sse.Event):
                frames.append(ev.data)
                if any(e["event"] == until for e in ev.data["events"]):
                    return frames


def test_a_forged_notification_never_reaches_a_follower(db, database, user, make_user):
    from tests.support.billing_helpers import world

    w = world(db, user_id=user.id)
    attacker = make_user()
    out: queue.Queue[bytes | None] = queue.Queue()
    stop = threading.Event()
    follower = _follow(user, w.session_id, out, stop)
    assert out.get(timeout=10).startswith(b": following")

    # The attacker can still NOTIFY (any role may): as a payload on the victim's topic, and as an
    # id of a stored message, which the old follower read back as the service role.
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("set role authenticated")
        conn.execute("select set_config('request.jwt.claims', %s, false)",
                     (json.dumps({"sub": attacker.id, "role": "authenticated"}),))
        forged = {"turn_id": str(uuid.uuid4()), "session_id": w.session_id,
                  "events": [{"id": 1, "event": "token", "data": {"text": "FORGED"}}]}
        conn.execute("select pg_notify('realtime', %s)",
                     (json.dumps({"topic": f"session:{w.session_id}", "event": "turn", "payload": forged}),))
        conn.execute("select pg_notify('realtime', %s)",
                     (json.dumps({"topic": f"session:{w.session_id}", "event": "turn", "id": str(uuid.uuid4())}),))

    # Then the real thing: a turn the streaming function writes (events, then its broadcast).
    with db.service() as tx:
        turn = tx.sql("insert into turns (session_id, user_id, instance_id, client_message_id) values"
                      " (%(s)s, %(u)s, %(i)s, %(c)s) returning id",
                      {"s": w.session_id, "u": user.id, "i": w.instance_id, "c": uuid.uuid4().hex}).fetchone()["id"]
        for seq, (event, data) in enumerate([("session", {"session_id": w.session_id}), ("token", {"text": "real"}),
                                             ("done", {"usage": {}, "credits": 0})], start=1):
            tx.sql("insert into turn_events (turn_id, seq, user_id, event, data) values (%(t)s, %(q)s, %(u)s, %(e)s, %(d)s)",
                   {"t": turn, "q": seq, "u": user.id, "e": event, "d": json.dumps(data)})
        tx.sql("update turns set last_seq = 3 where id = %(t)s", {"t": turn})
        tx.sql(SEND, (json.dumps({"turn_id": str(turn)}), f"session:{w.session_id}"))

    frames = _frames(out, until="done")
    events = [e for f in frames for e in f["events"]]
    assert all(f["turn_id"] == str(turn) and f["session_id"] == w.session_id for f in frames)
    assert [e["id"] for e in events] == [1, 2, 3]
    assert [e["data"].get("text") for e in events if e["event"] == "token"] == ["real"]
    assert "FORGED" not in json.dumps(frames)

    stop.set()  # one more real frame wakes the follower, which then stops and closes its connection
    with db.service() as tx:
        tx.sql("insert into turn_events (turn_id, seq, user_id, event, data) values (%(t)s, 4, %(u)s, 'status', '{}')",
               {"t": turn, "u": user.id})
        tx.sql(SEND, (json.dumps({"turn_id": str(turn)}), f"session:{w.session_id}"))
    follower.join(10)
    assert not follower.is_alive()

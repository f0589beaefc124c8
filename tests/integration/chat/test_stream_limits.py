"""Streams and the database (issue 9): follow and resume streams share the process's one listener and
hold no connection while they wait, and a user's concurrent streams are capped (429 + Retry-After)."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from shared.config import overridden
from shared.streaming import sse
from tests.support.billing_helpers import World, held, set_credits, world

FOLLOWERS = 50


def connections(db: Any) -> int:
    with db.service() as tx:
        return tx.sql("select count(*) as n from pg_stat_activity where datname = current_database()").fetchone()["n"]


def fill_pool(db: Any) -> None:
    """Makes the process's pool open every connection it may (its max size) and keep them idle: what
    is measured after this is what streams add beyond the pool, which any burst of requests fills."""
    barrier = threading.Barrier(db.max_size)

    def hold() -> None:
        with db.service() as tx:
            tx.sql("select 1")
            barrier.wait(30)

    threads = [threading.Thread(target=hold) for _ in range(db.max_size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)


def write_turn(db: Any, w: World, user_id: str, events: list[tuple[str, dict[str, Any]]]) -> str:
    """A turn with these events in turn_events, then its frame's broadcast (as the streaming function does)."""
    with db.service() as tx:
        turn = tx.sql("insert into turns (session_id, user_id, instance_id, client_message_id) values"
                      " (%(s)s, %(u)s, %(i)s, %(c)s) returning id",
                      {"s": w.session_id, "u": user_id, "i": w.instance_id, "c": uuid.uuid4().hex}).fetchone()["id"]
        for seq, (event, data) in enumerate(events, start=1):
            tx.sql("insert into turn_events (turn_id, seq, user_id, event, data) values (%(t)s, %(q)s, %(u)s, %(e)s, %(d)s)",
                   {"t": turn, "q": seq, "u": user_id, "e": event, "d": json.dumps(data)})
        tx.sql("update turns set last_seq = %(n)s where id = %(t)s", {"t": turn, "n": len(events)})
        tx.sql("select realtime.send(%(p)s::jsonb, 'turn', %(topic)s, true)",
               {"p": json.dumps({"turn_id": str(turn)}), "topic": f"session:{w.session_id}"})
    return str(turn)


class Follower:
    """One `GET /api/sessions/{id}/events` read in a thread: its frames go to `frames`."""

    def __init__(self, base_url: str, headers: dict[str, str], session_id: str) -> None:
        self.ready = threading.Event()
        self.frames: queue.Queue[dict[str, Any]] = queue.Queue()
        self.status: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(base_url, headers, session_id), daemon=True)
        self._thread.start()

    def _run(self, base_url: str, headers: dict[str, str], session_id: str) -> None:
        with httpx.Client(base_url=base_url, timeout=60, trust_env=False) as http, \
                http.stream("GET", f"/api/sessions/{session_id}/events", headers=headers) as resp:
            self.status = resp.status_code
            if resp.status_code != 200:
                self.ready.set()
                return
            for ev in sse.parse(resp.iter_lines()):
                if isinstance(ev, sse.Comment):
                    self.ready.set()
                elif isinstance(ev, sse.Event):
                    self.frames.put(ev.data)
                if self._stop.is_set():
                    return

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


@contextmanager
def followers(base_url: str, headers: dict[str, str], session_id: str, n: int) -> Iterator[list[Follower]]:
    out = [Follower(base_url, headers, session_id) for _ in range(n)]
    try:
        for f in out:
            assert f.ready.wait(20), "a follower did not start"
        yield out
    finally:
        for f in out:
            f.stop()


def test_follow_streams_share_one_listener_and_hold_no_connection(chat_stack, db, user):
    w = world(db, user_id=user.id)
    with overridden({"CHAT_STREAMS_PER_USER": str(FOLLOWERS + 10)}):
        with followers(chat_stack.base_url, user.headers, w.session_id, 2) as warm:
            write_turn(db, w, user.id, [("session", {"session_id": w.session_id}), ("done", {"usage": {}, "credits": 0})])
            for f in warm:
                f.frames.get(timeout=10)
            fill_pool(db)
            baseline = connections(db)  # the stack idle: its pool full, the listener up
        with followers(chat_stack.base_url, user.headers, w.session_id, FOLLOWERS) as many:
            assert all(f.status == 200 for f in many)
            opened = connections(db)
            peak = opened
            for i in range(3):  # every frame wakes all of them at once, and each reads its rows
                turn = write_turn(db, w, user.id, [("session", {"session_id": w.session_id}),
                                                   ("token", {"text": f"frame {i}"}),
                                                   ("done", {"usage": {}, "credits": 0})])
                for f in many:
                    got = f.frames.get(timeout=15)
                    assert got["turn_id"] == turn and [e["id"] for e in got["events"]] == [1, 2, 3]
                    peak = max(peak, connections(db))
            time.sleep(1.0)
            settled = connections(db)
    print(f"\n{FOLLOWERS} follow streams of one user: {baseline} connections before, {opened} with them open,"
          f" {peak} at most while frames woke them, {settled} after")
    assert opened <= baseline + 5 and peak <= baseline + 5 and settled <= baseline + 5


def test_streams_past_the_per_user_cap_get_429_with_retry_after(chat_stack, db, user, make_user):
    w = world(db, user_id=user.id)
    set_credits(db, user.id, topup=1000)
    with overridden({"CHAT_STREAMS_PER_USER": "3"}), chat_stack.http() as http:
        with followers(chat_stack.base_url, user.headers, w.session_id, 3) as three:
            assert all(f.status == 200 for f in three)
            cmid = uuid.uuid4().hex
            for method, path, body in [
                ("GET", f"/api/sessions/{w.session_id}/events", None),
                ("GET", f"/api/chat/stream/{write_turn(db, w, user.id, [('session', {})])}", None),
                ("POST", "/api/chat/stream", {"instance_id": w.instance_id, "message": "one more",
                                              "client_message_id": cmid}),
            ]:
                resp = http.request(method, path, json=body, headers=user.headers)
                assert resp.status_code == 429, (path, resp.status_code, resp.text)
                assert resp.headers["content-type"].startswith("application/problem+json")
                problem = resp.json()
                assert problem["status"] == 429 and problem["type"].endswith("/too-many-streams"), problem
                assert 1 <= int(resp.headers["Retry-After"]) <= 60
            with db.service() as tx:  # the refused turn left nothing behind: no turn, so no hold
                n = tx.sql("select count(*) as n from turns where client_message_id = %(c)s", {"c": cmid}).fetchone()["n"]
            assert n == 0 and held(db, user.id) == 0
            # Another user is not affected by this user's streams.
            other = make_user()
            other_w = world(db, user_id=other.id)
            with followers(chat_stack.base_url, other.headers, other_w.session_id, 1) as theirs:
                assert theirs[0].status == 200
            # A stream that ends gives its slot back.
            three[0].stop()
            deadline = time.monotonic() + 20
            while True:
                # A frame: the stopped follower reads it and hangs up; the server notices a client has
                # gone when it next writes to it, then ends that stream and releases its lease.
                write_turn(db, w, user.id, [("session", {"session_id": w.session_id})])
                again = Follower(chat_stack.base_url, user.headers, w.session_id)
                assert again.ready.wait(20)
                again.stop()
                if again.status == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert again.status == 200


def test_the_openapi_document_declares_the_429s(chat_stack):
    with chat_stack.http() as http:
        paths = http.get("/api/openapi.json").json()["paths"]
    assert "429" in paths["/api/chat/stream"]["post"]["responses"]
    assert "429" in paths["/api/chat/stream/{turn_id}"]["get"]["responses"]
    assert "429" in paths["/api/sessions/{session_id}/events"]["get"]["responses"]


def test_the_listener_reconnects_and_its_streams_keep_following(chat_stack, db, user):
    from shared.chat import listener

    w = world(db, user_id=user.id)
    # Polling out of the way: only a notification can deliver a frame within the timeouts below.
    with overridden({"CHAT_STREAM_POLL_S": "60"}), \
            followers(chat_stack.base_url, user.headers, w.session_id, 1) as (follower,):
        turn = write_turn(db, w, user.id, [("session", {"session_id": w.session_id})])
        assert follower.frames.get(timeout=5)["turn_id"] == turn
        shared_listener = listener.listener()
        before = shared_listener.connects
        with db.connection(autocommit=True) as conn:
            killed = conn.execute("select pg_terminate_backend(pid) from pg_stat_activity"
                                  " where application_name = 'openagents-chat-listener'"
                                  " and datname = current_database()").fetchall()
        assert len(killed) == 1  # one listener for the whole process
        deadline = time.monotonic() + 10
        while shared_listener.connects == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert shared_listener.connects == before + 1 and shared_listener.listening
        turn = write_turn(db, w, user.id, [("session", {"session_id": w.session_id})])
        got = follower.frames.get(timeout=5)
        while got["turn_id"] != turn:  # the reconnect's wake-up may deliver nothing new first
            got = follower.frames.get(timeout=5)
        assert [e["id"] for e in got["events"]] == [1]

"""Web chat through the whole local stack: API → SSE gateway (fly-replay) → emulator proxy → bridge."""

from __future__ import annotations

import random
import threading
import uuid
from typing import Any

import httpx

from fly.agent.bridge.runtime.offline import offline_answer
from shared.streaming import sse
from tests.integration.chat.conftest import drain_lifecycle

TOKENS = 24


def read_events(resp: httpx.Response, stop_after: int | None = None) -> list[sse.Event]:
    out: list[sse.Event] = []
    for ev in sse.parse(resp.iter_lines()):
        if isinstance(ev, sse.Event):
            out.append(ev)
            if stop_after is not None and int(ev.id or 0) >= stop_after:
                break
    return out


def chat(http: Any, user: Any, instance_id: str, message: str, **extra: Any) -> tuple[httpx.Response, dict]:
    body = {"instance_id": instance_id, "message": message, "client_message_id": extra.pop("cmid", uuid.uuid4().hex)}
    body.update(extra)
    return http.stream("POST", "/api/chat/stream", json=body, headers=user.headers), body


def text_of(events: list[sse.Event]) -> str:
    return "".join(e.data["text"] for e in events if e.event == "token")


def check_ids(events: list[sse.Event]) -> None:
    ids = [int(e.id) for e in events]
    assert ids == sorted(set(ids)), ids


def test_streamed_turn_settles_and_persists(chat_stack, hire_running, user):
    instance = hire_running(user)
    with chat_stack.http() as http:
        before = http.get("/api/credits", headers=user.headers).json()
        cm, _ = chat(http, user, instance, "hello there")
        with cm as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            assert resp.headers["x-accel-buffering"] == "no"
            events = read_events(resp)
        assert events[0].event == "session" and events[0].id == "1"
        check_ids(events)
        assert events[-1].event == "done"
        assert text_of(events) == "".join(offline_answer("hello there", TOKENS))
        done = events[-1].data
        assert done["usage"]["output_tokens"] > 0 and done["credits"] >= 2  # per_task price 2 + metered
        session_id = events[0].data["session_id"]
        msgs = http.get(f"/api/sessions/{session_id}/messages", headers=user.headers).json()["items"]
        assert [m["role"] for m in msgs] == ["user", "assistant"]
        assert msgs[1]["content"] == text_of(events)
        after = http.get("/api/credits", headers=user.headers).json()
        spent = _available(before) - _available(after)
        assert spent == done["credits"]
        sessions = http.get(f"/api/instances/{instance}/sessions", headers=user.headers).json()["items"]
        assert [s["id"] for s in sessions] == [session_id]


def _available(credits: dict[str, Any]) -> int:
    bal = credits.get("balance", credits)
    return int(bal.get("available", bal.get("subscription_credits", 0) + bal.get("topup_credits", 0)))


def test_disconnect_and_resume_at_random_points(chat_stack, hire_running, user):
    instance = hire_running(user)
    rng = random.Random(5)
    with chat_stack.http() as http:
        cm, _ = chat(http, user, instance, "the full answer please")
        with cm as resp:
            reference = read_events(resp)
        answer = text_of(reference)
        for _ in range(3):
            cut = rng.randint(2, len(reference) - 2)
            cm, _ = chat(http, user, instance, "the full answer please")
            with cm as resp:
                first = read_events(resp, stop_after=cut)
            turn_id = first[0].data["turn_id"]
            with http.stream("GET", f"/api/chat/stream/{turn_id}",
                             headers={**user.headers, "Last-Event-ID": str(cut)}) as resp:
                assert resp.status_code == 200
                rest = read_events(resp)
            events = first + rest
            check_ids(events)
            assert [int(e.id) for e in events] == list(range(1, len(events) + 1))
            assert events[-1].event == "done"
            assert text_of(events) == answer


def test_repeated_client_message_id_attaches_to_the_same_turn(chat_stack, hire_running, user, db):
    instance = hire_running(user)
    with chat_stack.http() as http:
        cm, body = chat(http, user, instance, "once only", cmid="cm-" + uuid.uuid4().hex)
        with cm as resp:
            first = read_events(resp)
        again = http.stream("POST", "/api/chat/stream", json=body, headers=user.headers)
        with again as resp:
            second = read_events(resp)
    assert [(e.id, e.event) for e in second] == [(e.id, e.event) for e in first]
    with db.service() as tx:
        n = tx.sql("select count(*) as n from turns where client_message_id = %(c)s", {"c": body["client_message_id"]}).fetchone()["n"]
    assert n == 1


def test_upstream_failure_mid_stream_ends_with_error_and_is_reaped(chat_stack, hire_running, user, db):
    instance = hire_running(user)
    with chat_stack.http() as http:
        cm, _ = chat(http, user, instance, "please FAILTEST now")
        with cm as resp:
            events = read_events(resp)
    assert events[-1].event == "error" and events[-1].data["status"] == 502
    assert any(e.event == "token" for e in events)
    turn_id = events[0].data["turn_id"]
    with db.service() as tx:
        turn = tx.sql("select status::text, settled_at, last_seq from turns where id = %(t)s", {"t": turn_id}).fetchone()
        stored = tx.sql("select count(*) as n from turn_events where turn_id = %(t)s", {"t": turn_id}).fetchone()["n"]
    assert turn["status"] == "error" and stored == len(events) == turn["last_seq"]
    from shared.billing.settlement import reap_turns

    with db.service() as tx:  # the reaper leaves turns younger than 30 s alone
        tx.sql("update turns set created_at = created_at - interval '1 minute' where id = %(t)s", {"t": turn_id})
    reap_turns()
    with db.service() as tx:
        assert tx.sql("select settled_at from turns where id = %(t)s", {"t": turn_id}).fetchone()["settled_at"]


def test_chat_wakes_a_suspended_agent(chat_stack, hire_running, user, db):
    instance = hire_running(user)
    with chat_stack.http() as http:
        assert http.post(f"/api/instances/{instance}/suspend", headers=user.headers).status_code == 202
        drain_lifecycle(db)
        assert http.get(f"/api/instances/{instance}", headers=user.headers).json()["status"] == "suspended"
        cm, _ = chat(http, user, instance, "wake up")
        with cm as resp:
            events = read_events(resp)
        assert [e.event for e in events[:2]] == ["session", "status"] and events[1].data == {"state": "waking"}
        assert events[-1].event == "done"
        assert http.get(f"/api/instances/{instance}", headers=user.headers).json()["status"] == "running"


def test_a_second_device_follows_the_session_live(chat_stack, hire_running, user):
    instance = hire_running(user)
    with chat_stack.http() as http:
        cm, _ = chat(http, user, instance, "first")
        with cm as resp:
            session_id = read_events(resp)[0].data["session_id"]
        seen: list[dict] = []
        ready = threading.Event()

        def follow() -> None:
            with httpx.Client(base_url=chat_stack.base_url, timeout=30) as other, \
                    other.stream("GET", f"/api/sessions/{session_id}/events", headers=user.headers) as resp:
                for ev in sse.parse(resp.iter_lines()):
                    if isinstance(ev, sse.Comment):
                        ready.set()
                        continue
                    seen.append(ev.data)
                    if any(e["event"] == "done" for e in ev.data["events"]):
                        return

        t = threading.Thread(target=follow, daemon=True)
        t.start()
        assert ready.wait(10)
        cm, _ = chat(http, user, instance, "second", session_id=session_id)
        with cm as resp:
            direct = read_events(resp)
        t.join(20)
    followed = [e for frame in seen for e in frame["events"]]
    assert [e["id"] for e in followed] == [int(e.id) for e in direct]
    assert "".join(e["data"]["text"] for e in followed if e["event"] == "token") == text_of(direct)


def test_no_credits_is_402(chat_stack, hire_running, user, db):
    instance = hire_running(user)
    with db.service() as tx:
        tx.sql("update credit_balances set subscription_credits = 0, topup_credits = 0 where user_id = %(u)s", {"u": user.id})
    with chat_stack.http() as http:
        resp = http.post("/api/chat/stream", json={"instance_id": instance, "message": "hi", "client_message_id": "x1"},
                         headers=user.headers)
    assert resp.status_code == 402 and resp.headers["content-type"].startswith("application/problem+json")


def test_other_users_get_404_never_data(chat_stack, hire_running, make_user, user):
    instance = hire_running(user)
    other = make_user()
    with chat_stack.http() as http:
        cm, _ = chat(http, user, instance, "mine")
        with cm as resp:
            first = read_events(resp)
        turn_id, session_id = first[0].data["turn_id"], first[0].data["session_id"]
        for method, path, body in [
            ("POST", "/api/chat/stream", {"instance_id": instance, "message": "x", "client_message_id": "o1"}),
            ("POST", "/api/chat/stream", {"instance_id": instance, "session_id": session_id, "message": "x",
                                          "client_message_id": "o2"}),
            ("GET", f"/api/chat/stream/{turn_id}", None),
            ("GET", f"/api/sessions/{session_id}/events", None),
            ("GET", f"/api/sessions/{session_id}/messages", None),
            ("GET", f"/api/instances/{instance}/sessions", None),
        ]:
            resp = http.request(method, path, json=body, headers=other.headers)
            assert resp.status_code == 404, (path, resp.status_code, resp.text[:200])
            assert "mine" not in resp.text


def test_agent_refusing_the_turn_still_gets_session_first_then_error(chat_stack, hire_running, user, db):
    """The `session` event waits for the agent to take the turn (issue 14); when the agent refuses
    it (here: a stale gateway token in the API's target cache), `session` still comes first, then one
    `error`, and the turn is closed and its hold released."""
    import time as _time

    from shared.chat import stream as chat_stream
    from shared.lifecycle import machine_target

    instance = hire_running(user)
    real = machine_target(instance)
    chat_stream._targets[instance] = (_time.monotonic(),
                                      type(real)(real.instance_id, real.app, real.machine_id, "not-the-token"))
    try:
        with chat_stack.http() as http:
            cm, _ = chat(http, user, instance, "anyone there?")
            with cm as resp:
                events = read_events(resp)
            assert [e.event for e in events] == ["session", "error"], events
            assert events[1].data["status"] == 502 and events[1].data["type"].endswith("/agent-unavailable")
            turn_id = events[0].data["turn_id"]
            with db.service() as tx:
                turn = tx.sql("select status::text, settled_at, hold_credits from turns where id = %(t)s",
                              {"t": turn_id}).fetchone()
            assert turn["status"] == "error" and turn["settled_at"] is not None
            # The failed target was dropped: the next turn reads the real one and completes.
            cm, _ = chat(http, user, instance, "and now?")
            with cm as resp:
                assert read_events(resp)[-1].event == "done"
    finally:
        chat_stream._targets.pop(instance, None)

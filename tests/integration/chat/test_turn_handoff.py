"""Turns longer than a function may live (issue 9): the route hands the upstream to a worker job, the
client resumes with Last-Event-ID, every event arrives exactly once and the turn is settled once.

The bridge's side of it first (hold a turn across a listener gap, re-attach from an offset), then the
whole path: API over HTTP → SSE gateway → emulator proxy → bridge, with the `continue_turn` job run
in this process."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx

from fly.agent.bridge.runtime.offline import offline_answer
from shared.bridge import protocol
from shared.chat.frames import TurnWriter
from shared.chat.handoff import continue_turn
from shared.chat.relay import RelayPosition, relay_upstream
from shared.chat.upstream import attach_turn_stream
from shared.chat.usage import TurnMeter
from shared.config import overridden
from shared.lifecycle import machine_target
from shared.security import canary
from shared.streaming import sse
from tests.support.agent_machine import SSEReader, read_sse, real_events, text_of
from tests.support.billing_helpers import assert_ledger_matches_balance, held, set_credits
from tests.support.harness import HttpClient

# ---- the bridge: hold and re-attach ----------------------------------------------------------------------


def _bridge(machine: Any) -> HttpClient:
    return HttpClient(machine.url, headers={"Authorization": f"Bearer {machine.token}"})


def _state(machine: Any, turn_id: str) -> dict[str, Any]:
    return _bridge(machine).get(protocol.turn_path(turn_id)).json()


def _first_tokens(machine: Any, turn_id: str, message: str, n: int) -> list[Any]:
    body = {"turn_id": turn_id, "session_key": "s-1", "message": message}
    with httpx.stream("POST", machine.url + protocol.TURNS, json=body, timeout=30,
                      headers={"Authorization": f"Bearer {machine.token}"}) as resp:
        got = []
        for ev in SSEReader(resp):
            got.append(ev)
            if len([e for e in got if e.event == "token"]) >= n:
                return real_events(got)
    raise AssertionError("the turn ended early")


def _wait_state(machine: Any, turn_id: str, state: str, timeout: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (got := _state(machine, turn_id))["state"] != state and time.monotonic() < deadline:
        time.sleep(0.05)
    return got


def test_a_held_turn_runs_on_without_listeners_and_re_attaches_from_an_offset(start_bridge: Any) -> None:
    machine = start_bridge(env={"OFFLINE_TOKEN_INTERVAL_MS": "10"})
    message = "hold me TOKENS=150"
    _first_tokens(machine, "turn-held", message, 3)
    # Too late: the only listener has gone, so that run was cancelled. A held one is not.
    assert _wait_state(machine, "turn-held", "cancelled")["state"] == "cancelled"
    with _bridge(machine) as bridge:
        resp = bridge.get(protocol.turn_events_path("turn-held"))
        assert resp.status_code == 409 and resp.json()["code"] == "turn-cancelled"
        assert bridge.get(protocol.turn_events_path("no-such-turn")).status_code == 404
        assert bridge.post(protocol.turn_hold_path("no-such-turn"), json={"seconds": 5}).status_code == 404

    body = {"turn_id": "turn-kept", "session_key": "s-1", "message": message}
    with httpx.stream("POST", machine.url + protocol.TURNS, json=body, timeout=30,
                      headers={"Authorization": f"Bearer {machine.token}"}) as resp:
        reader = iter(SSEReader(resp))  # kept: closing the reader would close the stream
        first = []
        while len([e for e in first if e.event == "token"]) < 3:
            first.append(next(reader))
        with _bridge(machine) as bridge:
            for bad in ({"seconds": -1}, {"seconds": 4000}, {"seconds": "5"}, {"seconds": True}, {}):
                assert bridge.post(protocol.turn_hold_path("turn-kept"), json=bad).status_code == 400
            summary = bridge.post(protocol.turn_hold_path("turn-kept"), json={"seconds": 30}).json()
        assert summary["hold_s"] == 30 and summary["state"] == "running"
    first = real_events(first)
    time.sleep(0.3)
    state = _state(machine, "turn-kept")
    assert state["state"] == "running" and state["listeners"] == 0 and state["events"] > len(first)
    last = first[-1].id
    with httpx.stream("GET", machine.url + protocol.turn_events_path("turn-kept"), timeout=30,
                      headers={"Authorization": f"Bearer {machine.token}", protocol.LAST_EVENT_ID: str(last)}) as resp:
        assert resp.status_code == 200
        rest = real_events(read_sse(resp))
    events = first + rest
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "done"
    assert text_of(events) == "".join(offline_answer(message, 150))


def test_a_hold_that_runs_out_cancels_the_run(start_bridge: Any) -> None:
    machine = start_bridge(env={"OFFLINE_TOKEN_INTERVAL_MS": "10"})
    body = {"turn_id": "turn-brief", "session_key": "s-1", "message": "brief hold TOKENS=3000"}
    with httpx.stream("POST", machine.url + protocol.TURNS, json=body, timeout=30,
                      headers={"Authorization": f"Bearer {machine.token}"}) as resp:
        reader = iter(SSEReader(resp))
        while next(reader).event != "token":
            pass
        _bridge(machine).post(protocol.turn_hold_path("turn-brief"), json={"seconds": 0.5})
    time.sleep(0.2)
    assert _state(machine, "turn-brief")["state"] == "running"
    assert _wait_state(machine, "turn-brief", "cancelled")["state"] == "cancelled"


# ---- the whole path: route → worker → resume ---------------------------------------------------------------

LONG_TOKENS = 1500  # at the stack's 4 ms a token: 6 s and more, under a 3 s function limit
LIMIT_S = 3.0
LIMITS = {"FUNCTION_MAX_DURATION_S": str(LIMIT_S), "CHAT_HANDOFF_MARGIN_S": "1.5", "CHAT_STREAM_POLL_S": "0.5"}


def _events(resp: httpx.Response) -> list[sse.Event]:
    return [e for e in sse.parse(resp.iter_lines()) if isinstance(e, sse.Event)]


def _run_chat_jobs(db: Any, done: threading.Event, errors: list[BaseException]) -> threading.Thread:
    from devstack.chat_stack import drain_jobs

    def run() -> None:
        try:
            drain_jobs(db, ["chat"], timeout=60)
        except BaseException as exc:  # noqa: BLE001 — reported by the test
            errors.append(exc)
        finally:
            done.set()

    t = threading.Thread(target=run, daemon=True, name="chat-worker")
    t.start()
    return t


def test_a_turn_longer_than_the_function_limit_is_finished_by_a_worker(chat_stack, hire_running, user, db):
    instance = hire_running(user)
    set_credits(db, user.id, topup=100_000)
    message = f"take your time TOKENS={LONG_TOKENS}"
    body = {"instance_id": instance, "message": message, "client_message_id": uuid.uuid4().hex}
    with overridden(LIMITS), httpx.Client(base_url=chat_stack.base_url, timeout=30, trust_env=False) as http:
        started = time.monotonic()
        with http.stream("POST", "/api/chat/stream", json=body, headers=user.headers) as resp:
            assert resp.status_code == 200
            first = _events(resp)
        cut_after = time.monotonic() - started
        # The function's stream ended cleanly before its limit: no terminal event, no error.
        assert first and first[0].event == "session" and first[-1].event not in ("done", "error"), first[-1]
        assert cut_after < LIMIT_S
        turn_id = first[0].data["turn_id"]
        with db.service() as tx:
            job = tx.sql("select status::text, args from procrastinate.procrastinate_jobs"
                         " where task_name = 'continue_turn' and args->>'turn_id' = %(t)s", {"t": turn_id}).fetchone()
        assert job is not None and job["args"]["seq"] == int(first[-1].id)

        worker_done, errors = threading.Event(), []
        worker = _run_chat_jobs(db, worker_done, errors)
        events = list(first)
        resumes = 0
        deadline = time.monotonic() + 60
        while events[-1].event not in ("done", "error") and time.monotonic() < deadline:
            with http.stream("GET", f"/api/chat/stream/{turn_id}",
                             headers={**user.headers, "Last-Event-ID": events[-1].id}) as resp:
                assert resp.status_code == 200
                events += _events(resp)
            resumes += 1
        worker.join(60)
        assert not errors, errors
    print(f"\nhanded off after {cut_after:.2f} s at event {first[-1].id}; {resumes} resumes;"
          f" {len(events)} events in all")

    assert events[-1].event == "done", events[-1]
    assert [int(e.id) for e in events] == list(range(1, len(events) + 1))  # each exactly once, in order
    answer = "".join(offline_answer(message, LONG_TOKENS))
    assert "".join(e.data["text"] for e in events if e.event == "token") == answer
    assert events[-1].data["usage"]["output_tokens"] == LONG_TOKENS

    with db.service() as tx:
        turn = tx.sql("select status::text as status, settled_at, last_seq, assistant_message_id from turns"
                      " where id = %(t)s", {"t": turn_id}).fetchone()
        stored = tx.sql("select count(*) as n from turn_events where turn_id = %(t)s", {"t": turn_id}).fetchone()["n"]
        content = tx.sql("select content from messages where id = %(m)s",
                         {"m": turn["assistant_message_id"]}).fetchone()["content"]
        entries = tx.sql("select shortfall, subscription_delta + topup_delta as delta from credit_transactions"
                         " where idempotency_key = %(k)s", {"k": f"turn:{turn_id}"}).fetchall()
        usage = tx.sql("select count(*) as n from usage_events where turn_id = %(t)s", {"t": turn_id}).fetchone()["n"]
    assert turn["status"] == "done" and turn["settled_at"] is not None
    assert stored == turn["last_seq"] == len(events)
    assert content == answer
    assert len(entries) == 1 and -entries[0]["delta"] == events[-1].data["credits"]  # settled once, as reported
    assert usage == 1
    assert held(db, user.id) == 0
    assert_ledger_matches_balance(db, user.id)


def test_a_rerun_of_the_worker_writes_nothing_twice(chat_stack, hire_running, user, db):
    """The job killed mid-way and run again (ARCHITECTURE §8): it skips what turn_events holds."""
    instance = hire_running(user)
    set_credits(db, user.id, topup=100_000)
    message = "twice over TOKENS=600"
    body = {"instance_id": instance, "message": message, "client_message_id": uuid.uuid4().hex}
    with overridden(LIMITS), httpx.Client(base_url=chat_stack.base_url, timeout=30, trust_env=False) as http:
        with http.stream("POST", "/api/chat/stream", json=body, headers=user.headers) as resp:
            first = _events(resp)
        turn_id = first[0].data["turn_id"]
        with db.service() as tx:
            args = tx.sql("select args from procrastinate.procrastinate_jobs where task_name = 'continue_turn'"
                          " and args->>'turn_id' = %(t)s", {"t": turn_id}).fetchone()["args"]
            tx.sql("delete from procrastinate.procrastinate_jobs where args->>'turn_id' = %(t)s", {"t": turn_id})
        # A first attempt that stored some 40 events past the handoff and died; the bridge holds the run.
        # It screens tokens as the worker does: the canary guard goes on from what the route's held back
        # (a tail that could begin the instance's random canary), so what it stored is what a worker stores.
        writer = TurnWriter(turn_id=turn_id, session_id=first[0].data["session_id"], user_id=user.id,
                            start_seq=args["seq"])
        position = RelayPosition(opened=True, bridge_seq=args["bridge_after"])
        guard = canary.stream_guard(instance, user_id=user.id, reference=turn_id)
        guard.feed(args["held"])
        with attach_turn_stream(machine_target(instance), turn_id=turn_id, after=args["bridge_after"]) as upstream:
            for i, _ in enumerate(relay_upstream(upstream, writer, TurnMeter(message), position, guard=guard)):
                if i >= 40:
                    break
        writer.flush()
        outcome = continue_turn(turn_id, args["bridge_after"], args["seq"], args["streamed_tokens"],
                                args["reached_at"], held=args["held"])
        assert outcome == "done"
        with http.stream("GET", f"/api/chat/stream/{turn_id}", headers=user.headers) as resp:
            events = _events(resp)
    assert [int(e.id) for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "done"
    assert "".join(e.data["text"] for e in events if e.event == "token") == "".join(offline_answer(message, 600))
    assert continue_turn(turn_id, args["bridge_after"], args["seq"], 0, args["reached_at"]) == "closed"
    with db.service() as tx:
        n = tx.sql("select count(*) as n from credit_transactions where idempotency_key = %(k)s",
                   {"k": f"turn:{turn_id}"}).fetchone()["n"]
    assert n == 1

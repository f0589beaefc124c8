"""Money through the whole chat path (issue 9): parallel turns cannot outrun the balance, and a turn
cut off or failing mid-answer is charged for what it used — over real HTTP, the SSE gateway, the Fly
emulator's proxy and the bridge."""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx

from fly.agent.bridge.runtime.offline import input_tokens
from shared.billing.pricing import price_table
from shared.billing.settlement import creator_share, reap_turns
from shared.config import overridden
from shared.streaming import sse
from tests.support.billing_helpers import assert_ledger_matches_balance, balance, held, ledger, set_credits

# Under this table a streamed output token costs 1 credit and a second of compute 1 credit, so a
# charge shows exactly what was counted.
TOKEN_PRICED = json.dumps({"markup": "1", "machine_usd_per_second": "0.01",
                           "default": {"input": "0", "output": "10000"}})


def _agent(db: Any, instance_id: str) -> dict[str, Any]:
    with db.service() as tx:
        return tx.sql("select a.id, a.creator_id, a.pricing_model::text as model, a.credits_price as price"
                      " from agent_instances i join agents a on a.id = i.agent_id where i.id = %(i)s",
                      {"i": instance_id}).fetchone()


def _settled_turn(db: Any, turn_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        with db.service() as tx:
            row = tx.sql("select status::text as status, settled_at, hold_credits from turns where id = %(t)s",
                         {"t": turn_id}).fetchone()
        if row["settled_at"] is not None or time.monotonic() > deadline:
            return row
        time.sleep(0.1)


def _usage(db: Any, turn_id: str) -> list[dict[str, Any]]:
    with db.service() as tx:
        return tx.sql("select * from usage_events where turn_id = %(t)s", {"t": turn_id}).fetchall()


def _streamed_tokens(db: Any, turn_id: str) -> int:
    with db.service() as tx:
        return tx.sql("select count(*) as n from turn_events where turn_id = %(t)s and event = 'token'",
                      {"t": turn_id}).fetchone()["n"]


def _debits(db: Any, user_id: str) -> dict[str, dict[str, Any]]:
    return {str(r["turn_id"]): r for r in ledger(db, user_id) if r["kind"] == "debit"}


def _taken(debit: dict[str, Any]) -> int:
    return -(debit["subscription_delta"] + debit["topup_delta"])


def test_50_concurrent_turns_on_a_balance_that_covers_3(chat_stack, hire_running, user, db):
    instance = hire_running(user)
    agent = _agent(db, instance)
    assert agent["model"] == "per_task" and agent["price"] > 0
    hold = agent["price"] + 1  # the agent's price + the metered allowance
    set_credits(db, user.id, subscription=3 * hold)
    before = balance(db, user.id)["subscription_credits"]
    gate = threading.Barrier(50)

    def one(i: int) -> tuple[int, Any]:
        body = {"instance_id": instance, "message": f"race {i} TOKENS=60", "client_message_id": f"race-{uuid.uuid4().hex}"}
        with chat_stack.http() as http:
            gate.wait()
            with http.stream("POST", "/api/chat/stream", json=body, headers=user.headers) as resp:
                if resp.status_code != 200:
                    return resp.status_code, resp.json()
                return 200, [e for e in sse.parse(resp.iter_lines()) if isinstance(e, sse.Event)]

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, range(50)))

    ran = [events for status, events in results if status == 200]
    refused = [body for status, body in results if status == 402]
    assert len(ran) + len(refused) == 50, sorted({s for s, _ in results})
    assert 1 <= len(ran) <= 3
    assert all(b["type"].endswith("/insufficient-credits") and b["required"] == hold for b in refused)
    debits = _debits(db, user.id)
    for events in ran:
        assert events[-1].event == "done", events[-1]
        turn_id = events[0].data["turn_id"]
        assert events[-1].data["credits"] == _taken(debits[turn_id])  # done.credits is what the ledger took
    with db.service() as tx:
        turns = tx.sql("select count(*) as n from turns where user_id = %(u)s", {"u": user.id}).fetchone()["n"]
        earned = tx.sql("select count(*) as n, coalesce(sum(credits), 0) as credits from creator_earnings"
                        " where payer_id = %(u)s", {"u": user.id}).fetchone()
    assert turns == len(ran) == len(debits)  # a refused turn left nothing behind
    assert sum(d["shortfall"] for d in debits.values()) == 0
    assert (earned["n"], earned["credits"]) == (len(ran), len(ran) * creator_share(agent["price"]))
    after = balance(db, user.id)
    assert after["subscription_credits"] >= 0 and after["topup_credits"] >= 0
    assert before - after["subscription_credits"] == sum(_taken(d) for d in debits.values())
    assert held(db, user.id) == 0
    assert_ledger_matches_balance(db, user.id)
    print(f"\n50 concurrent turns on {before} credits (holds of {hold}): {len(ran)} ran, {len(refused)} got 402;"
          f" balance {before} → {after['subscription_credits']}, shortfall 0,"
          f" creator earned {earned['credits']} on {earned['n']} paid turns")


def test_a_turn_cut_off_is_charged_for_the_tokens_it_streamed_and_its_compute(chat_stack, hire_running, user, db):
    instance = hire_running(user)
    set_credits(db, user.id, topup=100_000)
    body = {"instance_id": instance, "message": "a long answer TOKENS=5000", "client_message_id": uuid.uuid4().hex}
    with overridden({"BILLING_PRICE_TABLE": TOKEN_PRICED, "CHAT_RESUME_GRACE_S": "0.3"}):
        # A browser that reads 20 tokens and goes away for good (nobody resumes the turn).
        with httpx.Client(base_url=chat_stack.base_url, timeout=30) as browser, \
                browser.stream("POST", "/api/chat/stream", json=body, headers=user.headers) as resp:
            assert resp.status_code == 200
            read = 0
            for ev in sse.parse(resp.iter_lines()):
                if isinstance(ev, sse.Event) and ev.event == "session":
                    turn_id = ev.data["turn_id"]
                elif isinstance(ev, sse.Event) and ev.event == "token":
                    read += 1
                    if read == 20:
                        break
        turn = _settled_turn(db, turn_id)
        assert turn["status"] == "interrupted" and turn["settled_at"] is not None, turn
        streamed = _streamed_tokens(db, turn_id)
        [usage] = _usage(db, turn_id)
        expected = price_table().metered_credits([usage])
    assert 20 <= streamed < 5000  # cut off: the run was cancelled upstream
    assert usage["source_request_id"] == f"bridge:{turn_id}" and usage["output_tokens"] == streamed
    assert usage["compute_seconds"] > 0
    assert expected == math.ceil(Decimal(streamed) + usage["compute_seconds"])  # N tokens + compute
    debit = _debits(db, user.id)[turn_id]
    assert debit["reference"]["agent_credits"] == 0  # an interrupted turn pays no agent price
    assert (debit["reference"]["amount"], _taken(debit), debit["shortfall"]) == (expected, expected, 0)
    with db.service() as tx:
        msg = tx.sql("select output_tokens from messages where turn_id = %(t)s and role = 'assistant'",
                     {"t": turn_id}).fetchone()
    assert msg["output_tokens"] == streamed
    # Settled once: the reaper finds nothing more to charge.
    with db.service() as tx:
        tx.sql("update turns set created_at = created_at - interval '1 hour' where id = %(t)s", {"t": turn_id})
    reap_turns()
    assert len(_usage(db, turn_id)) == 1 and _debits(db, user.id)[turn_id]["id"] == debit["id"]
    assert held(db, user.id) == 0
    assert_ledger_matches_balance(db, user.id)


def test_an_error_mid_answer_is_charged_for_its_tokens_and_compute(chat_stack, hire_running, user, db):
    instance = hire_running(user)
    set_credits(db, user.id, topup=100_000)
    message = "this fails FAILTEST TOKENS=40"
    with overridden({"BILLING_PRICE_TABLE": TOKEN_PRICED}):
        with chat_stack.http() as http, http.stream("POST", "/api/chat/stream", headers=user.headers, json={
                "instance_id": instance, "message": message, "client_message_id": uuid.uuid4().hex}) as resp:
            events = [e for e in sse.parse(resp.iter_lines()) if isinstance(e, sse.Event)]
        assert events[-1].event == "error" and events[-1].data["type"].endswith("/agent-error")
        turn_id = events[0].data["turn_id"]
        turn = _settled_turn(db, turn_id, timeout=5)  # settled as the error closed it, not by the reaper
        [usage] = _usage(db, turn_id)
        expected = price_table().metered_credits([usage])
    assert turn["status"] == "error" and turn["settled_at"] is not None
    assert sum(e.event == "token" for e in events) == 20 == usage["output_tokens"]  # the bridge's figures
    assert usage["input_tokens"] == input_tokens(message) and usage["compute_seconds"] > 0
    assert expected == math.ceil(Decimal(20) + usage["compute_seconds"])
    debit = _debits(db, user.id)[turn_id]
    assert debit["reference"]["agent_credits"] == 0 and (_taken(debit), debit["shortfall"]) == (expected, 0)
    with db.service() as tx:
        assert tx.sql("select 1 from creator_earnings where turn_id = %(t)s", {"t": turn_id}).fetchone() is None
    assert held(db, user.id) == 0
    assert_ledger_matches_balance(db, user.id)

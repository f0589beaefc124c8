"""Credit holds (issue 9): a turn reserves its agent price + the metered allowance when it opens;
settlement converts the hold into the debit and may take only the turn's own hold plus credits no
other turn holds; the creator earns only from what was paid; the reaper charges a dead stream for what
its events show and ends its hold."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.billing import ledger as credit_ledger
from shared.billing.settlement import creator_share, reap_turns, settle_turn
from shared.problems import Problem
from tests.support.billing_helpers import (
    assert_ledger_matches_balance,
    balance,
    held,
    held_turn,
    ledger,
    set_credits,
    turn,
    world,
)


def _earned(db, turn_id):
    with db.service() as tx:
        row = tx.sql("select credits from creator_earnings where turn_id = %(t)s", {"t": turn_id}).fetchone()
    return None if row is None else row["credits"]


def _debit(db, user_id, turn_id):
    [row] = [r for r in ledger(db, user_id) if r["kind"] == "debit" and str(r["turn_id"]) == turn_id]
    return row


def test_a_hold_lowers_what_is_available_until_settlement_converts_it(db):
    w = world(db, pricing_model="per_task", price=5)
    set_credits(db, w.user_id, subscription=20)
    t = held_turn(db, w, agent_price=5)
    assert held(db, w.user_id) == 6  # the price + the metered allowance of 1
    assert credit_ledger.available_credits(w.user_id) == 14
    assert balance(db, w.user_id)["subscription_credits"] == 20  # a hold moves no money
    s = settle_turn(t)
    assert (s.charged, s.paid, s.shortfall, s.hold_credits) == (6, 6, 0, 6)
    assert held(db, w.user_id) == 0 and credit_ledger.available_credits(w.user_id) == 14
    assert_ledger_matches_balance(db, w.user_id)


def test_turns_that_cannot_be_covered_are_refused_before_they_start(db):
    w = world(db, pricing_model="per_task", price=5)
    set_credits(db, w.user_id, subscription=13)  # covers two holds of 6
    held_turn(db, w, agent_price=5, status="streaming")
    held_turn(db, w, agent_price=5, status="streaming")
    with pytest.raises(Problem) as exc:
        held_turn(db, w, agent_price=5, status="streaming")
    assert exc.value.status == 402 and exc.value.extra == {"available": 1, "required": 6}
    with pytest.raises(Problem):
        credit_ledger.require_credits(w.user_id, 5)
    assert held(db, w.user_id) == 12


def test_concurrent_holds_never_exceed_the_balance(db):
    w = world(db, pricing_model="per_task", price=5)
    set_credits(db, w.user_id, subscription=30, topup=6)  # six holds of 6
    turns = [turn(db, w, status="streaming", usage=()) for _ in range(40)]
    barrier = threading.Barrier(20)

    def reserve(t):
        if turns.index(t) < 20:
            barrier.wait()
        try:
            with db.service() as tx:
                credit_ledger.reserve_turn(tx, w.user_id, t, 5)
            return True
        except Problem:
            return False

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(reserve, turns))
    assert sum(results) == 6 and held(db, w.user_id) == 36
    assert credit_ledger.available_credits(w.user_id) == 0


def test_a_metered_overrun_takes_free_credits_but_never_another_turns_hold(db):
    w = world(db, pricing_model="per_task", price=5)
    set_credits(db, w.user_id, subscription=14)  # two holds of 6, 2 free
    expensive = [("claude-opus-4-1", 100_000, 10_000, 1.0)]  # $2.25 × 1.3 → 293 credits of metered usage
    a = held_turn(db, w, agent_price=5, usage=expensive)
    b = held_turn(db, w, agent_price=5)
    sa = settle_turn(a)
    assert sa.paid == 6 + 2 and sa.shortfall == sa.charged - 8  # its own hold + the 2 nobody held
    assert sa.agent_credits == 5 and _earned(db, a) == creator_share(5)  # the held price is paid in full
    assert held(db, w.user_id) == 6
    sb = settle_turn(b)
    assert (sb.charged, sb.paid, sb.shortfall) == (6, 6, 0)  # b's hold was still there
    b_after = balance(db, w.user_id)
    assert (b_after["subscription_credits"], b_after["topup_credits"]) == (0, 0)
    assert_ledger_matches_balance(db, w.user_id)


def test_the_creator_earns_only_from_what_was_paid(db):
    w = world(db, pricing_model="per_task", price=40)
    set_credits(db, w.user_id, subscription=10)
    t = turn(db, w)  # opened without a hold (a path that only checked the balance)
    s = settle_turn(t)
    assert (s.charged, s.paid, s.shortfall) == (41, 10, 31)
    assert _earned(db, t) == creator_share(10) == s.creator_credits
    broke = turn(db, w)
    assert settle_turn(broke).paid == 0 and _earned(db, broke) is None
    again = settle_turn(t)
    assert again.already_settled and (again.paid, again.creator_credits) == (10, creator_share(10))


def test_failed_turns_release_the_agent_price_they_held(db):
    w = world(db, pricing_model="per_task", price=5)
    set_credits(db, w.user_id, subscription=20)
    t = held_turn(db, w, agent_price=5, status="error")
    s = settle_turn(t)
    assert (s.agent_credits, s.metered_credits, s.paid) == (0, 1, 1) and _earned(db, t) is None
    assert credit_ledger.available_credits(w.user_id) == 19 and held(db, w.user_id) == 0


def test_per_session_price_is_held_until_the_session_has_paid(db):
    from shared.chat.stream import agent_price

    inst = {"pricing_model": "per_session", "credits_price": 20}
    assert agent_price(inst, session_paid=False) == 20 and agent_price(inst, session_paid=True) == 0
    w = world(db, pricing_model="per_session", price=20)
    set_credits(db, w.user_id, subscription=100)
    first, second = held_turn(db, w, agent_price=20), held_turn(db, w, agent_price=20)  # opened together
    assert [settle_turn(t).agent_credits for t in (first, second)] == [20, 0]
    assert credit_ledger.available_credits(w.user_id) == 100 - 21 - 1


def test_a_subscription_expiring_mid_turn_still_pays_what_the_turn_held(db):
    w = world(db, pricing_model="per_task", price=5)
    set_credits(db, w.user_id, subscription=10, expires_in_days=1)
    t = held_turn(db, w, agent_price=5)
    with db.service() as tx:  # the turn opened a minute ago; the period ended while it ran
        tx.sql("update turns set held_at = held_at - interval '1 minute' where id = %(t)s", {"t": t})
        tx.sql("update credit_balances set subscription_expires_at = now() - interval '1 second'"
               " where user_id = %(u)s", {"u": w.user_id})
    s = settle_turn(t)
    assert (s.paid, s.shortfall) == (6, 0)
    assert balance(db, w.user_id)["subscription_credits"] == 4
    assert_ledger_matches_balance(db, w.user_id)


def test_the_reaper_charges_a_dead_stream_for_its_events_and_ends_its_hold(db):
    w = world(db, pricing_model="per_task", price=5)
    set_credits(db, w.user_id, subscription=50)
    t = held_turn(db, w, agent_price=5, status="streaming", usage=())
    with db.service() as tx:  # the function streamed 7 tokens over ~12 s, then died
        tx.sql("update turns set created_at = now() - interval '1 hour' where id = %(t)s", {"t": t})
        tx.sql("insert into turn_events (turn_id, seq, user_id, event, data, created_at)"
               " select %(t)s, n, %(u)s, case when n = 1 then 'session' else 'token' end, '{}'::jsonb,"
               " now() - interval '1 hour' + make_interval(secs => n * 1.5)"
               " from generate_series(1, 8) n", {"t": t, "u": w.user_id})
    assert held(db, w.user_id) == 6
    result = reap_turns(stale_minutes=15)
    assert result.failed == 0 and result.interrupted >= 1
    with db.service() as tx:
        [usage] = tx.sql("select * from usage_events where turn_id = %(t)s", {"t": t}).fetchall()
        status = tx.sql("select status::text as s from turns where id = %(t)s", {"t": t}).fetchone()["s"]
    assert usage["source_request_id"] == f"bridge:{t}" and usage["output_tokens"] == 7
    assert float(usage["compute_seconds"]) == pytest.approx(12.0, abs=0.01)
    assert status == "interrupted" and held(db, w.user_id) == 0
    debit = _debit(db, w.user_id, t)
    assert debit["reference"]["agent_credits"] == 0 and debit["reference"]["metered"] >= 1
    assert _earned(db, t) is None
    assert_ledger_matches_balance(db, w.user_id)

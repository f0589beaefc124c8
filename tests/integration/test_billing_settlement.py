"""Turn settlement (ARCHITECTURE §5b): one idempotent transaction per turn, never negative, and the
ledger always sums to the balance."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from shared.billing import ledger as credit_ledger
from shared.billing.pricing import PriceTable
from shared.billing.settlement import reap_turns, settle_turn
from shared.problems import Problem
from tests.support.billing_helpers import (
    assert_ledger_matches_balance,
    balance,
    ledger,
    new_session,
    set_credits,
    turn,
    world,
)


def _earnings(db, turn_id):
    with db.service() as tx:
        return tx.sql("select * from creator_earnings where turn_id = %(t)s", {"t": turn_id}).fetchall()


def _turn(db, turn_id):
    with db.service() as tx:
        return tx.sql("select t.status::text, t.settled_at, i.last_active_at from turns t"
                      " join agent_instances i on i.id = t.instance_id where t.id = %(t)s", {"t": turn_id}).fetchone()


def test_metered_cost_follows_the_price_table():
    prices = PriceTable()
    # 1000 in + 500 out of gpt-4o-mini and 2 s of machine: $0.0004588 × 1.3 = 0.0596 credits → 1.
    assert prices.metered_credits([{"model": "gpt-4o-mini", "input_tokens": 1000, "output_tokens": 500,
                                    "compute_seconds": Decimal("2")}]) == 1
    # 1M in + 1M out of claude-sonnet-4-5 = $18 × 1.3 = 2340 credits; a provider prefix is ignored.
    assert prices.metered_credits([{"model": "anthropic/claude-sonnet-4-5", "input_tokens": 1_000_000,
                                    "output_tokens": 1_000_000, "compute_seconds": 0}]) == 2340
    assert prices.metered_credits([]) == 0
    assert prices.price_of("some-unknown-model") == prices.default


def test_settle_debits_metered_plus_agent_price_and_pays_the_creator(db):
    w = world(db, pricing_model="per_task", price=5)
    t = turn(db, w)
    before = _turn(db, t)
    s = settle_turn(t)
    assert s is not None and (s.metered_credits, s.agent_credits, s.charged, s.shortfall) == (1, 5, 6, 0)
    assert s.creator_credits == 4  # floor(0.85 × 5)
    assert balance(db, w.user_id)["subscription_credits"] == 50 - 6
    [earning] = _earnings(db, t)
    assert (str(earning["creator_id"]), earning["credits"], earning["payout_id"]) == (w.creator_id, 4, None)
    after = _turn(db, t)
    assert after["settled_at"] is not None and after["status"] == "done"
    assert after["last_active_at"] > before["last_active_at"]
    debit = [r for r in ledger(db, w.user_id) if r["kind"] == "debit"]
    assert len(debit) == 1 and debit[0]["idempotency_key"] == f"turn:{t}" and str(debit[0]["turn_id"]) == t
    assert debit[0]["reference"]["agent_credits"] == 5 and debit[0]["reference"]["metered"] == 1
    assert_ledger_matches_balance(db, w.user_id)


def test_settling_the_same_turn_twice_debits_once(db):
    w = world(db)
    t = turn(db, w)
    first = settle_turn(t)
    again = settle_turn(t)
    assert again is not None and again.already_settled
    assert (again.charged, again.agent_credits, again.metered_credits) == (first.charged, first.agent_credits,
                                                                            first.metered_credits)
    assert len([r for r in ledger(db, w.user_id) if r["kind"] == "debit"]) == 1
    assert len(_earnings(db, t)) == 1
    assert settle_turn("00000000-0000-0000-0000-000000000000") is None


def test_concurrent_settles_of_one_turn_debit_once(db):
    w = world(db)
    t = turn(db, w)
    barrier = threading.Barrier(8)

    def go(_):
        barrier.wait()
        return settle_turn(t)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(go, range(8)))
    assert sum(not r.already_settled for r in results) == 1
    assert len([r for r in ledger(db, w.user_id) if r["kind"] == "debit"]) == 1
    assert balance(db, w.user_id)["subscription_credits"] == 44
    assert_ledger_matches_balance(db, w.user_id)


def test_200_concurrent_settles_on_one_balance_never_go_negative(db):
    w = world(db, price=5)
    set_credits(db, w.user_id, subscription=300, topup=200)
    turns = [turn(db, w) for _ in range(200)]  # 6 credits each: 1,200 wanted, 500 there
    barrier = threading.Barrier(20)

    def go(t):
        if turns.index(t) < 20:
            barrier.wait()
        return settle_turn(t)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(go, turns))
    assert all(r is not None and not r.already_settled for r in results)
    b = balance(db, w.user_id)
    assert (b["subscription_credits"], b["topup_credits"]) == (0, 0)
    debits = [r for r in ledger(db, w.user_id) if r["kind"] == "debit"]
    assert len(debits) == 200
    taken = -sum(r["subscription_delta"] + r["topup_delta"] for r in debits)
    assert taken == 500 and sum(r["shortfall"] for r in debits) == 1200 - 500
    assert all(r["subscription_after"] >= 0 and r["topup_after"] >= 0 for r in debits)
    assert_ledger_matches_balance(db, w.user_id)


def test_subscription_credits_are_spent_before_topup(db):
    w = world(db, price=5)
    set_credits(db, w.user_id, subscription=3, topup=10)
    settle_turn(turn(db, w))  # 6 credits
    b = balance(db, w.user_id)
    assert (b["subscription_credits"], b["topup_credits"]) == (0, 7)
    debit = [r for r in ledger(db, w.user_id) if r["kind"] == "debit"][-1]
    assert (debit["subscription_delta"], debit["topup_delta"], debit["shortfall"]) == (-3, -3, 0)
    assert_ledger_matches_balance(db, w.user_id)


def test_expired_subscription_credits_are_not_spendable(db):
    w = world(db, price=5)
    set_credits(db, w.user_id, subscription=100, topup=2, expires_in_days=-1)
    assert credit_ledger.available_credits(w.user_id) == 2
    s = settle_turn(turn(db, w))
    assert s.shortfall == 4
    b = balance(db, w.user_id)
    assert (b["subscription_credits"], b["topup_credits"]) == (100, 0)  # expired, untouched, not spent
    assert_ledger_matches_balance(db, w.user_id)


def test_trial_expiry(db):
    w = world(db, price=5)
    assert credit_ledger.available_credits(w.user_id) == 50
    credit_ledger.require_credits(w.user_id, 5)
    with db.service() as tx:
        tx.sql("update credit_balances set subscription_expires_at = now() - interval '3 days'"
               " where user_id = %(u)s", {"u": w.user_id})
    assert credit_ledger.available_credits(w.user_id) == 0
    with pytest.raises(Problem) as exc:
        credit_ledger.require_credits(w.user_id, 5)
    assert exc.value.status == 402 and exc.value.extra == {"available": 0, "required": 6}
    with db.service() as tx:
        assert credit_ledger.expire_stale(tx) >= 1
        assert credit_ledger.expire_stale(tx) == 0  # once
    expiry = [r for r in ledger(db, w.user_id) if r["kind"] == "subscription_expiry"]
    assert len(expiry) == 1 and expiry[0]["subscription_delta"] == -50
    assert balance(db, w.user_id)["subscription_credits"] == 0
    assert_ledger_matches_balance(db, w.user_id)


def test_the_402_rule_is_price_plus_one(db):
    w = world(db)
    set_credits(db, w.user_id, subscription=10)
    assert credit_ledger.require_credits(w.user_id, 9) == 10
    with pytest.raises(Problem) as exc:
        credit_ledger.require_credits(w.user_id, 10)
    assert exc.value.status == 402 and exc.value.code == "insufficient-credits"


def test_per_session_price_is_paid_once_per_session_by_the_first_completed_turn(db):
    w = world(db, pricing_model="per_session", price=20)
    failed = settle_turn(turn(db, w, status="error"))
    first = settle_turn(turn(db, w))
    second = settle_turn(turn(db, w))
    other = settle_turn(turn(db, w, session_id=new_session(db, w)))
    assert [r.agent_credits for r in (failed, first, second, other)] == [0, 20, 0, 20]
    assert_ledger_matches_balance(db, w.user_id)


def test_free_agents_pay_only_what_they_use_and_empty_turns_write_nothing(db):
    w = world(db, pricing_model="free")
    s = settle_turn(turn(db, w))
    assert (s.metered_credits, s.agent_credits, s.creator_credits) == (1, 0, 0)
    before = len(ledger(db, w.user_id))
    empty = settle_turn(turn(db, w, usage=()))
    assert empty.charged == 0 and len(ledger(db, w.user_id)) == before


def test_reaper_settles_finished_turns_and_closes_dead_streams(db):
    w = world(db, price=5)
    done = turn(db, w, status="done", age_minutes=2)
    dead = turn(db, w, status="streaming", age_minutes=60)
    live = turn(db, w, status="streaming", age_minutes=1)
    result = reap_turns(stale_minutes=15)
    assert result.failed == 0 and result.settled >= 2 and result.interrupted >= 1
    assert _turn(db, done)["settled_at"] is not None and _turn(db, done)["status"] == "done"
    assert _turn(db, dead)["settled_at"] is not None and _turn(db, dead)["status"] == "interrupted"
    assert _turn(db, live)["settled_at"] is None and _turn(db, live)["status"] == "streaming"
    by_turn = {str(r["turn_id"]): r for r in ledger(db, w.user_id) if r["kind"] == "debit"}
    assert by_turn[done]["reference"]["agent_credits"] == 5
    assert by_turn[dead]["reference"]["agent_credits"] == 0 and by_turn[dead]["reference"]["metered"] == 1
    assert reap_turns(stale_minutes=15).settled == 0 or _turn(db, live)["settled_at"] is None


def test_clients_cannot_move_money(db, make_user):
    """The ledger functions are for the service role only; a signed-in user calling them directly
    (PostgREST would let them try) is refused, and cannot write the tables either."""
    import psycopg

    user = make_user()
    claims = {"sub": user.id, "role": "authenticated", "aud": "authenticated"}
    calls = [
        "select private.ledger_topup(%(u)s, 100000, 'x:' || gen_random_uuid(), '{}'::jsonb)",
        "select private.ledger_grant_subscription(%(u)s, 100000, 0, now(), now() + interval '1 day', 'y', '{}')",
        "select private.ledger_debit(%(u)s, -5, 'z', null, '{}'::jsonb)",
        "update credit_balances set topup_credits = 100000 where user_id = %(u)s",
        "insert into credit_transactions (user_id, kind, idempotency_key, subscription_after, topup_after)"
        " values (%(u)s, 'topup', 'w', 0, 100000)",
    ]
    for sql in calls:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with db.user(claims) as tx:
                tx.sql(sql, {"u": user.id})
    assert credit_ledger.available_credits(user.id) == 50

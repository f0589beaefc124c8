"""Rows for billing tests: a creator's priced agent, a user's instance, sessions, turns, usage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any


@dataclass
class World:
    user_id: str
    creator_id: str
    agent_id: str
    instance_id: str
    session_id: str


def new_user(db: Any, email: str | None = None) -> str:
    """A user made the way Supabase Auth makes one (the trigger adds profile and 50-credit trial)."""
    with db.service() as tx:
        return str(tx.sql("insert into auth.users (email) values (%(e)s) returning id",
                          {"e": email or f"b-{uuid.uuid4().hex[:12]}@test.openagents.dev"}).fetchone()["id"])


def world(db: Any, *, pricing_model: str = "per_task", price: int = 5, user_id: str | None = None,
          creator_id: str | None = None) -> World:
    user_id = user_id or new_user(db)
    creator_id = creator_id or new_user(db)
    with db.service() as tx:
        tx.sql("update profiles set role = 'creator' where id = %(c)s", {"c": creator_id})
        agent = tx.sql(
            "insert into agents (creator_id, slug, name, category, status, published_at, pricing_model, credits_price)"
            " values (%(c)s, %(s)s, 'Priced', 'test', 'published', now(), %(m)s::pricing_model, %(p)s) returning id",
            {"c": creator_id, "s": f"priced-{uuid.uuid4().hex[:10]}", "m": pricing_model,
             "p": 0 if pricing_model == "free" else price}).fetchone()["id"]
        inst = tx.sql("insert into agent_instances (user_id, agent_id, status, last_active_at)"
                      " values (%(u)s, %(a)s, 'running', now() - interval '1 day') returning id",
                      {"u": user_id, "a": agent}).fetchone()["id"]
        sess = tx.sql("insert into sessions (user_id, instance_id) values (%(u)s, %(i)s) returning id",
                      {"u": user_id, "i": inst}).fetchone()["id"]
    return World(user_id, creator_id, str(agent), str(inst), str(sess))


def new_session(db: Any, w: World) -> str:
    with db.service() as tx:
        return str(tx.sql("insert into sessions (user_id, instance_id) values (%(u)s, %(i)s) returning id",
                          {"u": w.user_id, "i": w.instance_id}).fetchone()["id"])


def turn(db: Any, w: World, *, status: str = "done", session_id: str | None = None, age_minutes: float = 1,
         usage: list[tuple[str, int, int, float]] = (("gpt-4o-mini", 1000, 500, 2.0),)) -> str:
    """A turn with its usage events (model, input tokens, output tokens, compute seconds)."""
    with db.service() as tx:
        t = tx.sql("insert into turns (session_id, user_id, instance_id, client_message_id, status, created_at)"
                   " values (%(s)s, %(u)s, %(i)s, %(c)s, %(st)s::turn_status, now() - make_interval(secs => %(age)s))"
                   " returning id",
                   {"s": session_id or w.session_id, "u": w.user_id, "i": w.instance_id, "c": uuid.uuid4().hex,
                    "st": status, "age": age_minutes * 60}).fetchone()["id"]
        for model, inp, out, secs in usage:
            tx.sql("insert into usage_events (user_id, instance_id, agent_id, turn_id, source_request_id, model,"
                   " input_tokens, output_tokens, compute_seconds) values (%(u)s, %(i)s, %(a)s, %(t)s, %(r)s, %(m)s,"
                   " %(in)s, %(out)s, %(c)s)",
                   {"u": w.user_id, "i": w.instance_id, "a": w.agent_id, "t": t, "r": uuid.uuid4().hex, "m": model,
                    "in": inp, "out": out, "c": secs})
    return str(t)


def balance(db: Any, user_id: str) -> dict[str, Any]:
    with db.service() as tx:
        return tx.sql("select subscription_credits, topup_credits, subscription_expires_at from credit_balances"
                      " where user_id = %(u)s", {"u": user_id}).fetchone()


def ledger(db: Any, user_id: str) -> list[dict[str, Any]]:
    with db.service() as tx:
        return tx.sql("select * from credit_transactions where user_id = %(u)s order by id", {"u": user_id}).fetchall()


def assert_ledger_matches_balance(db: Any, user_id: str) -> None:
    """The ledger's deltas sum to the balance row, and every entry's *_after is a running total."""
    rows = ledger(db, user_id)
    b = balance(db, user_id)
    sub = top = 0
    for r in rows:
        sub += r["subscription_delta"]
        top += r["topup_delta"]
        assert (r["subscription_after"], r["topup_after"]) == (sub, top), r
        assert sub >= 0 and top >= 0
    assert (sub, top) == (b["subscription_credits"], b["topup_credits"])


def set_credits(db: Any, user_id: str, *, subscription: int = 0, topup: int = 0, expires_in_days: float = 30) -> None:
    """Replaces the trial with a known balance, through the ledger (so the sums still hold); the expiry
    is then moved directly (it is not a ledger amount), which lets tests put it in the past."""
    with db.service() as tx:
        tx.sql("select private.ledger_grant_subscription(%(u)s, %(s)s, 0, now(), now() + interval '30 days',"
               " %(k)s, '{}'::jsonb)", {"u": user_id, "s": subscription, "k": f"test-grant:{uuid.uuid4().hex}"})
        tx.sql("update credit_balances set subscription_expires_at = now() + make_interval(secs => %(d)s * 86400)"
               " where user_id = %(u)s", {"u": user_id, "d": expires_in_days})
        if topup:
            tx.sql("select private.ledger_topup(%(u)s, %(t)s, %(k)s, '{}'::jsonb)",
                   {"u": user_id, "t": topup, "k": f"test-topup:{uuid.uuid4().hex}"})


def held_turn(db: Any, w: World, *, agent_price: int, status: str = "done", session_id: str | None = None,
              usage: list[tuple[str, int, int, float]] = (("gpt-4o-mini", 1000, 500, 2.0),)) -> str:
    """A turn opened the way chat opens one (its hold placed by `reserve_turn`), then given `status`."""
    from shared.billing.ledger import reserve_turn

    t = turn(db, w, status="streaming", session_id=session_id, usage=usage)
    with db.service() as tx:
        reserve_turn(tx, w.user_id, t, agent_price)
        tx.sql("update turns set status = %(s)s::turn_status where id = %(t)s", {"s": status, "t": t})
    return t


def held(db: Any, user_id: str) -> int:
    """Credits the user's unsettled turns hold."""
    with db.service() as tx:
        return int(tx.sql("select private.credits_held(%(u)s, null) as n", {"u": user_id}).fetchone()["n"])

"""`GET /api/platform/dashboard` against a fixture whose numbers are worked out by hand: two published
agents and a draft of one creator, another creator's agent beside them, instances, sessions, ledger
debits, usage, earnings and payouts spread over today, the two days before and long ago."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.harness import assert_problem


def _one(tx: Any, sql: str, **params: Any) -> Any:
    return tx.sql(sql + " returning id", params).fetchone()["id"]


def _world(db: Any, creator: str, other: str, users: list[str]) -> dict[str, Any]:
    u1, u2, u3 = users
    tag = uuid.uuid4().hex[:8]
    with db.service() as tx:
        def agent(owner: str, name: str, status: str, age: int) -> Any:
            return _one(tx, "insert into agents (creator_id, slug, name, category, status, created_at)"
                            " values (%(o)s, %(s)s, %(n)s, 'test', %(st)s, now() - make_interval(days => %(d)s))",
                        o=owner, s=f"{name.lower()}-{tag}", n=name, st=status, d=age)

        a, b, d = agent(creator, "Alpha", "published", 3), agent(creator, "Beta", "published", 2), \
            agent(creator, "Draft", "draft", 1)
        x = agent(other, "Other", "published", 1)

        def instance(user: str, agent_id: Any, status: str, days: int) -> Any:
            return _one(tx, "insert into agent_instances (user_id, agent_id, status, created_at)"
                            " values (%(u)s, %(a)s, %(st)s, now() - make_interval(days => %(d)s))",
                        u=user, a=agent_id, st=status, d=days)

        i1, i2 = instance(u1, a, "running", 0), instance(u2, a, "stopped", 2)
        instance(u3, a, "destroyed", 40)
        i4, i5, i6 = instance(u3, a, "running", 40), instance(u1, b, "suspended", 1), instance(u2, x, "running", 0)

        def session(user: str, inst: Any, days: int) -> Any:
            return _one(tx, "insert into sessions (user_id, instance_id, created_at)"
                            " values (%(u)s, %(i)s, now() - make_interval(days => %(d)s))", u=user, i=inst, d=days)

        s1 = session(u1, i1, 0)
        session(u1, i1, 0)
        s3, s4, s5, s6 = session(u2, i2, 2), session(u3, i4, 45), session(u1, i5, 1), session(u2, i6, 0)

        def turn(user: str, sess: Any, inst: Any, days: int, sub: int, top: int) -> Any:
            t = _one(tx, "insert into turns (session_id, user_id, instance_id, client_message_id, status, created_at)"
                         " values (%(s)s, %(u)s, %(i)s, %(c)s, 'done', now() - make_interval(days => %(d)s))",
                     s=sess, u=user, i=inst, c=uuid.uuid4().hex, d=days)
            tx.sql("insert into credit_transactions (user_id, kind, subscription_delta, topup_delta, idempotency_key,"
                   " turn_id, subscription_after, topup_after, created_at) values (%(u)s, 'debit', %(sub)s, %(top)s,"
                   " %(k)s, %(t)s, 0, 0, now() - make_interval(days => %(d)s))",
                   {"u": user, "sub": -sub, "top": -top, "k": f"turn:{t}", "t": t, "d": days})
            return t

        t1, t2 = turn(u1, s1, i1, 0, 3, 2), turn(u2, s3, i2, 2, 4, 0)
        t3, t4, t6 = turn(u3, s4, i4, 45, 7, 0), turn(u1, s5, i5, 1, 0, 6), turn(u2, s6, i6, 0, 9, 0)

        def usage(user: str, inst: Any, agent_id: Any, days: int, n_in: int, n_out: int) -> None:
            tx.sql("insert into usage_events (user_id, instance_id, agent_id, source_request_id, input_tokens,"
                   " output_tokens, created_at) values (%(u)s, %(i)s, %(a)s, %(r)s, %(n)s, %(m)s,"
                   " now() - make_interval(days => %(d)s))",
                   {"u": user, "i": inst, "a": agent_id, "r": f"req-{uuid.uuid4().hex}", "n": n_in, "m": n_out,
                    "d": days})

        usage(u1, i1, a, 0, 100, 50)
        usage(u2, i2, a, 2, 10, 5)
        usage(u1, i5, b, 1, 7, 3)
        usage(u2, i6, x, 0, 1000, 1000)

        def payout(period: str, credits: int, status: str) -> Any:
            return _one(tx, "insert into payouts (creator_id, period, credits, amount_cents, idempotency_key, status)"
                            " values (%(c)s, %(p)s, %(n)s, %(n)s, %(k)s, %(st)s)",
                        c=creator, p=period, n=credits, k=f"payout:{creator}:{period}", st=status)

        paid, waiting = payout("2026-09", 3, "paid"), payout("2026-10", 6, "pending")

        def earning(owner: str, agent_id: Any, payer: str, t: Any, credits: int, days: int, payout_id: Any) -> None:
            tx.sql("insert into creator_earnings (creator_id, agent_id, payer_id, turn_id, credits, payout_id, created_at)"
                   " values (%(c)s, %(a)s, %(p)s, %(t)s, %(n)s, %(po)s, now() - make_interval(days => %(d)s))",
                   {"c": owner, "a": agent_id, "p": payer, "t": t, "n": credits, "po": payout_id, "d": days})

        earning(creator, a, u1, t1, 4, 0, None)
        earning(creator, a, u2, t2, 3, 2, paid)
        earning(creator, a, u3, t3, 6, 45, waiting)
        earning(creator, b, u1, t4, 5, 1, None)
        earning(other, x, u2, t6, 8, 0, None)
    return {"a": str(a), "b": str(b), "d": str(d)}


def _day(n: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=n)).isoformat()


def _zero(date: str) -> dict[str, Any]:
    return {"date": date, "hires": 0, "sessions": 0, "credits_consumed": 0, "input_tokens": 0, "output_tokens": 0,
            "earnings": 0}


def test_dashboard_numbers(client: Any, db: Any, make_user: Any) -> None:
    creator, other = make_user("creator"), make_user("creator")
    users = [make_user().id for _ in range(3)]
    ids = _world(db, creator.id, other.id, users)

    resp = client.get("/api/platform/dashboard", token=creator.token)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data = resp.get_json()
    assert data["period"] == {"start": _day(29), "end": _day(0), "days": 30}
    assert data["totals"] == {"hires": 3, "active_instances": 4, "sessions": 4, "credits_consumed": 15,
                              "input_tokens": 117, "output_tokens": 58, "earnings": 12, "earnings_pending": 15,
                              "earnings_paid": 3}
    daily = {d["date"]: d for d in data["daily"]}
    assert len(data["daily"]) == 30 and [d["date"] for d in data["daily"]] == sorted(daily)
    assert daily[_day(0)] == {"date": _day(0), "hires": 1, "sessions": 2, "credits_consumed": 5, "input_tokens": 100,
                              "output_tokens": 50, "earnings": 4}
    assert daily[_day(1)] == {"date": _day(1), "hires": 1, "sessions": 1, "credits_consumed": 6, "input_tokens": 7,
                              "output_tokens": 3, "earnings": 5}
    assert daily[_day(2)] == {"date": _day(2), "hires": 1, "sessions": 1, "credits_consumed": 4, "input_tokens": 10,
                              "output_tokens": 5, "earnings": 3}
    assert all(daily[_day(n)] == _zero(_day(n)) for n in range(3, 30))

    agents = data["agents"]
    assert [a["agent_id"] for a in agents] == [ids["a"], ids["b"], ids["d"]]  # oldest first; the other creator's not
    alpha, beta, draft = agents
    assert {k: v for k, v in alpha.items() if k not in ("daily", "agent_id", "slug")} == {
        "name": "Alpha", "status": "published", "hires": 2, "active_instances": 3, "sessions": 3,
        "credits_consumed": 9, "input_tokens": 110, "output_tokens": 55, "earnings": 7, "earnings_pending": 10,
        "earnings_paid": 3}
    assert (beta["hires"], beta["active_instances"], beta["sessions"], beta["credits_consumed"], beta["earnings"],
            beta["earnings_pending"], beta["earnings_paid"]) == (1, 1, 1, 6, 5, 5, 0)
    assert draft["status"] == "draft" and draft["hires"] == draft["earnings"] == draft["active_instances"] == 0
    assert len(draft["daily"]) == 30 and all(d == _zero(d["date"]) for d in draft["daily"])
    alpha_days = {d["date"]: d for d in alpha["daily"]}
    assert alpha_days[_day(2)]["credits_consumed"] == 4 and alpha_days[_day(1)] == _zero(_day(1))

    short = client.get("/api/platform/dashboard", query={"days": 2}, token=creator.token).get_json()
    assert short["period"]["days"] == 2 and len(short["daily"]) == 2
    assert (short["totals"]["hires"], short["totals"]["credits_consumed"], short["totals"]["earnings"]) == (2, 11, 9)
    assert short["totals"]["earnings_pending"] == 15  # balances are all-time

    assert_problem(client.get("/api/platform/dashboard", token=make_user().token), 403)
    assert client.get("/api/platform/dashboard", query={"days": 0}, token=creator.token).status_code == 422
    assert client.get("/api/platform/dashboard", query={"days": 91}, token=creator.token).status_code == 422
    theirs = client.get("/api/platform/dashboard", token=other.token).get_json()
    assert theirs["totals"]["credits_consumed"] == 9 and theirs["totals"]["earnings"] == 8

"""`debits`: 200 concurrent turn settlements on one balance (ARCHITECTURE §7: never negative; report
throughput).

One user with 500 credits (300 subscription + 200 top-up) settles 200 turns of a per-task agent
(5 credits + metered usage ≈ 6 each, so ~1,200 wanted): every settlement is the real
`settle_turn_in` (turn lock → balance lock → usage → debit → creator earning → last_active_at →
settled_at), 20 at a time on 20 connections, all contending for the same balance row.
Checked afterwards: no balance or ledger entry ever below zero, the ledger sums to the balance, the
shortfall equals what could not be taken, exactly one debit per turn. The headline is throughput.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.registry import Context, Goal, Result, benchmark, verdict
from shared.billing.pricing import price_table
from shared.billing.settlement import settle_turn_in
from shared.data import Database

GOAL = Goal(">=", 100, "rps")  # all 200 settled within 2 s, contending for one row lock
CONCURRENCY = 20


def _setup(db: Database, tag: str, turns: int) -> tuple[str, str, list[str]]:
    from bench.environment import payer_with_instance

    with db.service() as tx:
        def one(sql: str, p: dict[str, Any]) -> Any:
            return tx.sql(sql, p).fetchone()["id"]  # type: ignore[index]

        user, creator, agent, inst = payer_with_instance(tx, tag, pricing_model="per_task", price=5)
        sess = one("insert into sessions (user_id, instance_id) values (%(u)s, %(i)s) returning id",
                   {"u": user, "i": inst})
        tx.sql("select private.ledger_grant_subscription(%(u)s, 300, 0, now(), now() + interval '30 days',"
               " %(k)s, '{}'::jsonb)", {"u": user, "k": f"bench:{tag}:grant"})
        tx.sql("select private.ledger_topup(%(u)s, 200, %(k)s, '{}'::jsonb)", {"u": user, "k": f"bench:{tag}:topup"})
        ids = [r["id"] for r in tx.sql(
            "insert into turns (session_id, user_id, instance_id, client_message_id, status)"
            " select %(s)s, %(u)s, %(i)s, %(tag)s || ':' || n, 'done' from generate_series(1, %(n)s) n returning id",
            {"s": sess, "u": user, "i": inst, "tag": tag, "n": turns}).fetchall()]
        tx.sql("insert into usage_events (user_id, instance_id, agent_id, turn_id, source_request_id, model,"
               " input_tokens, output_tokens, compute_seconds)"
               " select %(u)s, %(i)s, %(a)s, t, %(tag)s || ':' || t, 'gpt-4o-mini', 1000, 500, 2"
               " from unnest(%(ids)s::uuid[]) t", {"u": user, "i": inst, "a": agent, "tag": tag, "ids": ids})
    return str(user), str(creator), [str(i) for i in ids]


def _cleanup(db: Database, tag: str) -> str:
    from bench.environment import remove_bench_rows

    return remove_bench_rows(db, tag, ("delete from public.creator_earnings where creator_id in ({users})",
                                       "delete from public.usage_events where user_id in ({users})",
                                       "delete from public.sessions where user_id in ({users})"))


@benchmark("debits", "200 concurrent turn settlements on one balance: never negative; throughput")
def run(ctx: Context) -> Result:
    turns = 200 if ctx.full else 60
    bdb = ctx.database()
    db = Database(bdb.url, max_size=CONCURRENCY, min_size=CONCURRENCY)
    tag = uuid.uuid4().hex[:10]
    prices = price_table()
    # Most settlements here end in a shortfall on purpose; their per-turn warnings are not news.
    billing_log = logging.getLogger("openagents.billing")
    level = billing_log.level
    billing_log.setLevel(logging.ERROR)
    try:
        user, _creator, ids = _setup(db, tag, turns)
        for _ in range(CONCURRENCY):  # open every connection before the clock starts
            with db.service() as tx:
                tx.sql("select 1")
        gate = threading.Barrier(CONCURRENCY)
        latencies: list[float] = []

        def settle(i_turn: tuple[int, str]) -> Any:
            i, turn_id = i_turn
            if i < CONCURRENCY:
                gate.wait()
            t = time.perf_counter()
            with db.service() as tx:
                result = settle_turn_in(tx, turn_id, prices=prices)
            latencies.append(time.perf_counter() - t)
            return result

        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            results = list(pool.map(settle, enumerate(ids)))
        elapsed = time.perf_counter() - started

        with db.service() as tx:
            b = tx.sql("select subscription_credits, topup_credits from credit_balances where user_id = %(u)s",
                       {"u": user}).fetchone()
            rows = tx.sql("select kind, subscription_delta, topup_delta, shortfall, subscription_after, topup_after,"
                          " turn_id from credit_transactions where user_id = %(u)s order by id", {"u": user}).fetchall()
    finally:
        billing_log.setLevel(level)
        if not bdb.throwaway:
            print(_cleanup(db, tag))
        db.close()

    debits = [r for r in rows if r["kind"] == "debit"]
    negative = sum(1 for r in rows if r["subscription_after"] < 0 or r["topup_after"] < 0)
    negative += (b["subscription_credits"] < 0) + (b["topup_credits"] < 0)  # type: ignore[index]
    sums = (sum(r["subscription_delta"] for r in rows), sum(r["topup_delta"] for r in rows))
    wanted = sum(r.charged for r in results)
    taken = -sum(r["subscription_delta"] + r["topup_delta"] for r in debits)
    shortfall = sum(r["shortfall"] for r in debits)
    consistent = (sums == (b["subscription_credits"], b["topup_credits"])  # type: ignore[index]
                  and len(debits) == len({r["turn_id"] for r in debits}) == turns and taken + shortfall == wanted)
    rps = turns / elapsed
    lat = sorted(latencies)
    print(f"{turns} settlements, {CONCURRENCY} at a time on one balance: {elapsed:.2f} s, {rps:,.0f} settles/s; "
          f"latency p50 {statistics.median(lat) * 1000:.1f} ms, p99 {lat[int(0.99 * (len(lat) - 1))] * 1000:.1f} ms")
    print(f"wanted {wanted:,} credits, took {taken:,} (the whole balance of 500), shortfall {shortfall:,}")
    print(f"negative balances or entries: {negative}  goal 0  {'ok' if negative == 0 else 'MISSED'}")
    print(f"ledger sums to the balance, one debit per turn: {'ok' if consistent else 'MISSED'}")
    print(f"throughput {rps:,.0f} settles/s  goal {GOAL}  {verdict(GOAL, rps)}")
    return Result("debits", GOAL, value=rps, unit="rps")

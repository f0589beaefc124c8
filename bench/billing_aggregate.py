"""`billing-aggregate`: the hourly usage aggregation over 1M usage events (ARCHITECTURE §7, goal < 10 s).

Data (full size): 2,000 users and 1,000,000 `usage_events` spread over the last 30 complete hours
and six models (one of them unknown to the price table, one with a provider prefix), bulk-generated
in SQL. Measured: the job's aggregation statement exactly as `billing_aggregate` runs it
(`shared.billing.metering.aggregate`: group per user and hour, price with the settlement price
table, insert `meter_reports`), from an empty watermark, so every event is aggregated.

Everything happens inside one transaction that is rolled back at the end, so the benchmark leaves
nothing behind in any database (on a shared `$DATABASE_URL` the measured statement also sees that
database's own recent usage; the figures say how many events it aggregated).
"""

from __future__ import annotations

import time
import uuid

from bench.registry import Context, Goal, Result, benchmark, verdict
from shared.billing.metering import GRACE
from shared.billing.pricing import price_table

GOAL = Goal("<", 10, "s")
EMAIL_DOMAIN = "bench.openagents.invalid"


class _Rollback(Exception):
    pass


_GEN_USERS = """
insert into auth.users (id, email)
select md5(%(tag)s::text || ':u:' || n)::uuid, 'bench-' || %(tag)s::text || '-' || n || '@' || %(domain)s::text
from generate_series(0, %(users)s::int - 1) n
"""
# Event e: user e % U, one of six models, within the last 30 complete hours (+ 6 min so the grace
# window of the job never cuts the newest hour in two).
_GEN_EVENTS = """
insert into public.usage_events (user_id, source_request_id, model, input_tokens, output_tokens, compute_seconds,
                                 created_at)
select md5(%(tag)s::text || ':u:' || (e %% %(users)s::int))::uuid,
       %(tag)s::text || ':' || e,
       (array['gpt-4o-mini', 'claude-sonnet-4-5', 'anthropic/claude-haiku-4-5', 'gpt-4.1', 'gemini-2.5-flash',
              'some-new-model'])[1 + e %% 6],
       200 + e %% 5000, 20 + e %% 900, (e %% 40) / 10.0,
       date_trunc('hour', now()) - interval '30 hours' + (e %% 108000) * interval '1 second'
from generate_series(0, %(events)s::int - 1) e
"""


@benchmark("billing-aggregate", "hourly usage aggregation (usage_events → meter_reports) over 1M events")
def run(ctx: Context) -> Result:
    events = 1_000_000 if ctx.full else 50_000
    users = 2_000 if ctx.full else 200
    bdb = ctx.database()
    tag = uuid.uuid4().hex[:10]
    prices = price_table()
    p = {"tag": tag, "domain": EMAIL_DOMAIN, "users": users, "events": events}
    print(f"data: {users:,} users, {events:,} usage events over 30 hours, 6 models")
    figures: dict[str, float] = {}
    try:
        with bdb.db.service() as tx:
            t = time.perf_counter()
            tx.sql(_GEN_USERS, p)
            tx.sql(_GEN_EVENTS, p)
            tx.sql("analyze public.usage_events")
            figures["generate"] = time.perf_counter() - t
            # From an empty watermark (inside this transaction only): every event is aggregated.
            tx.sql("delete from public.meter_reports")
            seen = tx.sql("select count(*) as n from public.usage_events"
                          " where created_at >= now() - interval '35 days'").fetchone()["n"]  # type: ignore[index]
            t = time.perf_counter()
            rows = tx.execute("meter_aggregate", grace_s=GRACE.total_seconds(), **prices.sql_params())
            figures["aggregate"] = time.perf_counter() - t
            figures["rows"] = rows
            figures["events"] = seen
            t = time.perf_counter()
            again = tx.execute("meter_aggregate", grace_s=GRACE.total_seconds(), **prices.sql_params())
            figures["rerun"] = time.perf_counter() - t
            figures["rerun_rows"] = again
            raise _Rollback
    except _Rollback:
        pass
    print(f"generated in {figures['generate']:.1f} s (rolled back afterwards: nothing is left behind)")
    print(f"aggregated {figures['events']:,.0f} events into {figures['rows']:,.0f} hourly meter reports "
          f"in {figures['aggregate']:.2f} s ({figures['events'] / figures['aggregate']:,.0f} events/s)  "
          f"goal {GOAL}  {verdict(GOAL, figures['aggregate'])}")
    print(f"rerun (nothing new): {figures['rerun']:.2f} s, {figures['rerun_rows']:.0f} rows added")
    return Result("billing-aggregate", GOAL, value=figures["aggregate"], unit="s")

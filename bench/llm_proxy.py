"""`llm-proxy`: what the LLM proxy adds to a model call, against the same call straight to the provider
in the same run (ARCHITECTURE §5a; issue 14's hot paths).

Both paths call the same local provider (`devstack.fake_llm`, answering at once, so the proxy's part
is what shows). "Direct" is `POST /v1/chat/completions` on the provider; "proxied" is the machine's
path: `POST /llm/v1/chat/completions` on the API, in a process of its own as a function is, with an
instance's proxy token — the token's lookup, the call's opening (rate limit, turn, credits, spend caps,
the user's own key: one statement), the forwarded call, the answer relayed, the usage recorded.

No goal in ARCHITECTURE §7 names the proxy; ours is that it add under 10 ms to a streamed call's
first byte (a model's own time to first token is hundreds of ms). Calls go one at a time, then
`CONCURRENT` at a time. `BENCH_LLM_CALLS` sets the calls per row (200 full, 30 quick).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench.registry import Context, Goal, Result, benchmark, verdict

ADDED_GOAL = Goal("<", 10, "ms")
CONCURRENT = 10
_BODY = {"model": "fake-model", "messages": [{"role": "user", "content": "Say hello."}]}


def _setup(bench_db: Any, tag: str) -> tuple[str, str]:
    """A user with credits and a running instance of a free agent; its proxy token."""
    from bench.environment import payer_with_instance
    from shared.llm import tokens

    with bench_db.db.service() as tx:
        # Caps out of reach (the calls are what is measured; they are still checked on every call).
        user, _, _, instance = payer_with_instance(tx, tag, pricing_model="free", price=0,
                                                   instance_columns=", spend_cap_hourly, spend_cap_daily",
                                                   instance_values=", 1000000, 1000000")
        tx.sql("update profiles set plan = 'power', plan_status = 'active' where id = %(u)s", {"u": user})
        tx.sql("select private.ledger_topup(%(u)s, 1000000, %(k)s, '{}'::jsonb)", {"u": user, "k": f"bench:{tag}:topup"})
    with bench_db.as_default():
        return str(instance), tokens.ensure_token(str(instance))


def _cleanup(bench_db: Any, tag: str, instance: str | None) -> str:
    from bench.environment import remove_bench_rows
    from shared.llm import tokens

    if instance is not None:
        with bench_db.as_default():
            tokens.revoke_instance(instance)  # and its secret in Vault
    return remove_bench_rows(bench_db.db, tag, (
        "delete from public.usage_events where user_id in ({users})",
        "delete from public.rate_limits where key in (select 'llm-proxy:' || i.id from public.agent_instances i"
        " where i.user_id in ({users}))",
        "delete from public.proxy_tokens where user_id in ({users})"))


def _call(client: httpx.Client, url: str, token: str, *, stream: bool) -> tuple[float, float]:
    """(ms to the first byte of the answer, ms to its end)."""
    t0 = time.perf_counter()
    with client.stream("POST", url, json={**_BODY, "stream": stream}, headers={"Authorization": f"Bearer {token}"},
                       timeout=60) as resp:
        if resp.status_code != 200:
            raise RuntimeError(f"{url} answered {resp.status_code}: {resp.read()[:300]!r}")
        first = None
        for _ in resp.iter_raw():
            first = first or time.perf_counter()
    end = time.perf_counter()
    return ((first or end) - t0) * 1000, (end - t0) * 1000


def _calls(url: str, token: str, n: int, concurrency: int, *, stream: bool) -> list[tuple[float, float]]:
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
    with httpx.Client(limits=limits, trust_env=False) as client:
        for _ in range(3):  # the first calls pay for connections, imports and caches on both paths
            _call(client, url, token, stream=stream)
        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(lambda _: _call(client, url, token, stream=stream), range(n)))


def _usage_rows(tx: Any, instance: str) -> int:
    row = tx.sql("select count(*) as n from usage_events where instance_id = %(i)s", {"i": instance}).fetchone()
    return int(row["n"])


def _p(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


@benchmark("llm-proxy", "a model call through the LLM proxy vs straight to the provider: the added ms")
def run(ctx: Context) -> Result:
    from devstack.fake_llm import FakeLLM, upstream_env
    from devstack.serve import spawn

    n = int(os.environ.get("BENCH_LLM_CALLS") or (200 if ctx.full else 30))
    busy = 50_000 if ctx.full else 5_000
    bench_db = ctx.database()
    tag = uuid.uuid4().hex[:10]
    platform_key = "bench-platform-key-" + uuid.uuid4().hex[:8]
    llm = FakeLLM(chunk_delay_s=0).start()
    instance: str | None = None
    proc = None
    try:
        instance, token = _setup(bench_db, tag)
        # The limit is counted on every call, as in production, and set out of reach.
        proc, base = spawn({**os.environ, "DATABASE_URL": bench_db.url, "OPENAGENTS_ENV": "test",
                                 "LOG_LEVEL": "WARNING", "DATABASE_POOL_MAX": str(CONCURRENT + 5),
                                 "RATE_LIMITS": '{"llm-proxy": {"limit": 1000000000}}',
                                 **upstream_env(llm, key=platform_key)})
        direct_url, proxied_url = f"{llm.base_url}/chat/completions", f"{base}/llm/v1/chat/completions"
        rows: dict[tuple[str, bool, int], list[tuple[float, float]]] = {}
        for concurrency in (1, CONCURRENT):
            for stream in (True, False):
                rows[("direct", stream, concurrency)] = _calls(direct_url, platform_key, n, concurrency, stream=stream)
                rows[("proxied", stream, concurrency)] = _calls(proxied_url, token, n, concurrency, stream=stream)
        with bench_db.db.service() as tx:
            recorded = _usage_rows(tx, instance)
            # A busy user: the day's calls must not make the next one slower (the caps read an hourly
            # rollup, not the day's rows). Settled and of no tokens, so they leave the caps alone.
            tx.sql("insert into usage_events (user_id, instance_id, source_request_id, model, input_tokens,"
                   " output_tokens, settles_with, hour_settled_at, created_at)"
                   " select i.user_id, i.id, 'llm:bench:' || gen_random_uuid(), 'fake-model', 0, 0, 'hour', now(),"
                   " now() - random() * (now() - date_trunc('day', now(), 'UTC'))"
                   " from agent_instances i, generate_series(1, %(n)s) where i.id = %(i)s",
                   {"i": instance, "n": busy})
        with bench_db.db.connection() as conn:  # as autovacuum would soon: set hint bits, fresh statistics
            conn.autocommit = True
            conn.execute("vacuum (analyze) public.usage_events")
            conn.autocommit = False
        rows[("busy", True, 1)] = _calls(proxied_url, token, n, 1, stream=True)
        with bench_db.db.service() as tx:
            recorded_after = _usage_rows(tx, instance) - busy
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        llm.stop()
        if not bench_db.throwaway:
            print(_cleanup(bench_db, tag, instance))

    headline = 0.0
    print(f"{n} calls per row; median (p99) ms; the provider answers at once")
    for concurrency in (1, CONCURRENT):
        for stream in (True, False):
            d, p = rows[("direct", stream, concurrency)], rows[("proxied", stream, concurrency)]
            kind = "streamed" if stream else "whole"
            for i, what in ((0, "first byte"), (1, "complete")):
                dm, pm = statistics.median(r[i] for r in d), statistics.median(r[i] for r in p)
                added = pm - dm
                line = (f"{kind:8s} {concurrency:>2} at a time, {what:10s}: direct {dm:6.2f} ({_p([r[i] for r in d], .99):6.2f})"
                        f"  proxied {pm:6.2f} ({_p([r[i] for r in p], .99):6.2f})  added {added:6.2f}")
                if stream and concurrency == 1 and i == 0:
                    headline = added
                    line += f"  goal {ADDED_GOAL}  {verdict(ADDED_GOAL, added)}"
                print(line)
    quiet, busy_rows = rows[("proxied", True, 1)], rows[("busy", True, 1)]
    print(f"streamed  1 at a time, first byte, with {busy:,} of the user's calls today: proxied "
          f"{statistics.median(r[0] for r in busy_rows):6.2f} ({_p([r[0] for r in busy_rows], .99):6.2f}) against "
          f"{statistics.median(r[0] for r in quiet):6.2f} without")
    calls = 2 * (n + 3) * 2
    print(f"model calls recorded: {recorded} of {calls} proxied before the busy phase, {recorded_after - recorded} of "
          f"{n + 3} in it  {'ok' if recorded == calls and recorded_after - recorded == n + 3 else 'MISSED'}")
    print(f"added to a streamed call's first byte, one at a time: {headline:.2f} ms  goal {ADDED_GOAL}  "
          f"{verdict(ADDED_GOAL, headline)}")
    return Result("llm-proxy", ADDED_GOAL, value=max(headline, 0.0), unit="ms")

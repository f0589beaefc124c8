"""`stream`: chat through route + SSE gateway + emulator proxy vs straight to the bridge, at a fixed
token pace (ARCHITECTURE §7: + < 5 ms time to first token, ≥ 90% token rate, 200 concurrent streams).
`warm-hire`: hire from the warm pool → first token (ARCHITECTURE §7: < 2 s), see `warm_hire`.

Both paths talk to the same real agent machine (the bridge, offline runtime, one token every
`PACE_MS`). "Direct" is `POST /v1/turns` on the bridge's own port; "proxied" is the whole product path:
`POST /api/chat/stream` (auth, 402 check, turn + messages written, frames persisted and broadcast,
settlement) → SSE gateway (stream token, fly-replay) → emulator proxy → bridge.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.registry import Context, Goal, Result, benchmark, verdict
from shared.streaming import sse

PACE_MS = 10
TOKENS = 100
CONCURRENT_FULL = 200
TTFT_GOAL = Goal("<", 5, "ms")
RATE_GOAL = Goal(">=", 0.9)


def _consume(client: httpx.Client, method: str, url: str, **kw: Any) -> tuple[float, float, int]:
    """(time to first token s, seconds from first to last token, tokens) for one stream."""
    t0 = time.perf_counter()
    first = last = None
    n = 0
    with client.stream(method, url, timeout=120, **kw) as resp:
        resp.raise_for_status()
        for ev in sse.parse(resp.iter_lines()):
            if isinstance(ev, sse.Event) and ev.event == "token":
                now = time.perf_counter()
                first = first or now
                last = now
                n += 1
    assert first is not None and last is not None, "no tokens"
    return first - t0, last - first, n


def _setup(ctx: Context) -> tuple[Any, Any, dict[str, Any]]:
    from devstack.chat_stack import drain_jobs, start_local_chat
    from shared.config import reset_settings

    bench_db = ctx.database()
    tmp = Path(tempfile.mkdtemp(prefix="oa-bench-stream-"))
    os.environ["LOG_LEVEL"] = "WARNING"
    # The API runs in its own process (as a function does), not in the load generator's. One user
    # makes every turn: its abuse guards (the chat rate limit, the cap on concurrent streams) are
    # lifted, since what is measured is the path's capacity.
    local = start_local_chat(tmp, fly_token="bench-fly-token", machine_env={
        "OFFLINE_TOKEN_INTERVAL_MS": str(PACE_MS), "OFFLINE_TOKENS": str(TOKENS)}, grace_s=1,
        api_process_env={**os.environ, "DATABASE_URL": bench_db.url, "OPENAGENTS_ENV": "test", "DATABASE_POOL_MAX": "40",
                         "CHAT_STREAMS_PER_USER": str(CONCURRENT_FULL + 10), "RATE_LIMITS": '{"chat": {"limit": 0}}',
                         "SUPABASE_JWT_SECRET": os.environ.get("SUPABASE_JWT_SECRET") or "bench-jwt-secret-0123456789abcdef"})
    os.environ.update({**local.env, "DATABASE_URL": bench_db.url, "OPENAGENTS_ENV": "test",
                       "SUPABASE_JWT_SECRET": os.environ.get("SUPABASE_JWT_SECRET") or "bench-jwt-secret-0123456789abcdef"})
    reset_settings()
    from shared.data import migrate

    migrate.seed(bench_db.url, log=lambda *_: None)
    with httpx.Client(base_url=local.base_url, timeout=60) as http:
        auth = http.post("/api/dev/sign-in", json={"email": f"stream-{uuid.uuid4().hex[:8]}@bench.openagents.invalid"}).json()
        headers = {"Authorization": f"Bearer {auth['access_token']}"}
        instance = http.post("/api/instances", json={"agent": "daily-planner"}, headers=headers).json()["id"]
    drain_jobs(bench_db.db, ["lifecycle"], timeout=120)
    with bench_db.db.service() as tx:
        tx.sql("update credit_balances set topup_credits = 1000000 where user_id = %(u)s", {"u": auth["user_id"]})
        target = tx.sql("select i.fly_app, i.fly_machine_id, s.decrypted_secret as token from agent_instances i"
                        " join vault.decrypted_secrets s on s.id = i.gateway_token_secret_id where i.id = %(i)s",
                        {"i": instance}).fetchone()
    host, port = local.fly.machine_address(target["fly_machine_id"])
    direct = {"url": f"http://{host}:{port}/v1/turns", "token": target["token"]}
    return local, bench_db, {"headers": headers, "instance": instance, "direct": direct}


def _run(local: Any, info: dict[str, Any], path: str, n: int, concurrency: int) -> list[tuple[float, float, int]]:
    limits = httpx.Limits(max_connections=concurrency + 10, max_keepalive_connections=concurrency + 10)
    results: list[tuple[float, float, int]] = []
    lock = threading.Lock()
    with httpx.Client(base_url=local.base_url, limits=limits, trust_env=False) as client:
        def one(i: int) -> None:
            if path == "direct":
                r = _consume(client, "POST", info["direct"]["url"],
                             json={"turn_id": uuid.uuid4().hex, "session_key": f"bench:{i}", "message": "go", "channel": "web"},
                             headers={"Authorization": f"Bearer {info['direct']['token']}"})
            else:
                r = _consume(client, "POST", "/api/chat/stream", headers=info["headers"],
                             json={"instance_id": info["instance"], "message": "go", "client_message_id": uuid.uuid4().hex})
            with lock:
                results.append(r)

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(n)))
    return results


def _summary(rows: list[tuple[float, float, int]]) -> tuple[float, float]:
    ttft = statistics.median(r[0] for r in rows) * 1000
    rate = statistics.median((r[2] - 1) / r[1] for r in rows if r[1] > 0)
    return ttft, rate


@benchmark("stream", "chat through route + gateway + proxy vs direct to the bridge")
def stream(ctx: Context) -> Result:
    saved = dict(os.environ)
    local, _bench_db, info = _setup(ctx)
    try:
        sequential = 30 if ctx.full else 8
        concurrent = CONCURRENT_FULL if ctx.full else 20
        _run(local, info, "direct", 3, 1)
        _run(local, info, "proxied", 3, 1)  # warm both paths (imports, pools, prepared statements)
        d_ttft, d_rate = _summary(_run(local, info, "direct", sequential, 1))
        p_ttft, p_rate = _summary(_run(local, info, "proxied", sequential, 1))
        print(f"pace {PACE_MS} ms/token, {TOKENS} tokens per answer; {sequential} sequential streams per path")
        print(f"  time to first token   direct {d_ttft:.1f} ms   proxied {p_ttft:.1f} ms   added {p_ttft - d_ttft:.1f} ms"
              f"  goal {TTFT_GOAL}  {verdict(TTFT_GOAL, p_ttft - d_ttft)}")
        print(f"  token rate            direct {d_rate:.1f}/s   proxied {p_rate:.1f}/s   ratio {p_rate / d_rate:.3f}"
              f"  goal {RATE_GOAL}  {verdict(RATE_GOAL, p_rate / d_rate)}")
        t0 = time.perf_counter()
        dc = _run(local, info, "direct", concurrent, concurrent)
        dt_direct = time.perf_counter() - t0
        t0 = time.perf_counter()
        pc = _run(local, info, "proxied", concurrent, concurrent)
        dt_proxied = time.perf_counter() - t0
        cd_ttft, cd_rate = _summary(dc)
        cp_ttft, cp_rate = _summary(pc)
        print(f"{concurrent} concurrent streams: all finished: direct {len(dc)}/{concurrent} in {dt_direct:.1f} s,"
              f" proxied {len(pc)}/{concurrent} in {dt_proxied:.1f} s")
        print(f"  time to first token   direct {cd_ttft:.1f} ms   proxied {cp_ttft:.1f} ms")
        print(f"  token rate            direct {cd_rate:.1f}/s   proxied {cp_rate:.1f}/s   ratio {cp_rate / cd_rate:.3f}"
              f"  goal {RATE_GOAL}  {verdict(RATE_GOAL, cp_rate / cd_rate)}")
        return Result("stream", TTFT_GOAL, value=max(0.0, p_ttft - d_ttft), unit="ms")
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
        from shared.config import reset_settings

        reset_settings()


# --- warm-hire ----------------------------------------------------------------------------------------

WARM_GOAL = Goal("<", 2, "s")
WARM_POOL = 2  # what `make dev` keeps
BUNDLE_FILES = {"agent.yaml": b"name: Bench planner\n", "workspace/SOUL.md": b"You plan the day.\n",
                "workspace/AGENTS.md": b"# Agents\n" + b"Be brief.\n" * 200}


def _bench_agent(db: Any, creator_id: str, tag: str) -> str:
    """A published agent whose current version has a bundle (so the claim pushes files): its slug."""
    import base64
    import json

    slug = f"bench-warm-{tag}"
    bundle = {"files": {p: base64.b64encode(b).decode() for p, b in BUNDLE_FILES.items()}, "signatures": {}}
    with db.service() as tx:
        agent = tx.sql("insert into agents (creator_id, slug, name, category, status, published_at)"
                       " values (%(c)s, %(s)s, 'Bench planner', 'bench', 'published', now()) returning id",
                       {"c": creator_id, "s": slug}).fetchone()["id"]
        version = tx.sql("insert into agent_versions (agent_id, creator_id, version, openclaw_version, bundle, status,"
                         " published_at) values (%(a)s, %(c)s, '1.0.0', '2026.9.6', %(b)s::jsonb, 'published', now())"
                         " returning id", {"a": agent, "c": creator_id, "b": json.dumps(bundle)}).fetchone()["id"]
        tx.sql("update agents set current_version_id = %(v)s where id = %(a)s", {"v": version, "a": agent})
    return slug


def _hire_to_first_token(local: Any, db: Any, headers: dict[str, str], slug: str) -> dict[str, Any]:
    """POST /api/instances → the lifecycle queue runs (a worker drain in the background, as a worker
    would; it goes on with the refill the claim deferred) → `running` → POST /api/chat/stream → the
    first token. Seconds from the hire request for each mark."""
    from devstack.chat_stack import drain_jobs

    with httpx.Client(base_url=local.base_url, timeout=60, trust_env=False) as http:
        t0 = time.perf_counter()
        resp = http.post("/api/instances", json={"agent": slug}, headers=headers)
        resp.raise_for_status()
        instance = resp.json()["id"]
        hired = time.perf_counter() - t0
        worker = threading.Thread(target=drain_jobs, args=(db, ["lifecycle"]), kwargs={"timeout": 120}, daemon=True)
        worker.start()
        while True:
            status = http.get(f"/api/instances/{instance}", headers=headers).json()["status"]
            if status == "running":
                break
            if status == "error" or time.perf_counter() - t0 > 120:
                raise RuntimeError(f"the hire ended {status}")
            time.sleep(0.005)
        running = time.perf_counter() - t0
        ttft, _, _ = _consume(http, "POST", "/api/chat/stream", headers=headers,
                              json={"instance_id": instance, "message": "plan my day", "client_message_id": uuid.uuid4().hex})
        first = running + ttft
        worker.join(180)  # the refill (a new unit) finishes before the next hire
    return {"id": instance, "hired": hired, "running": running, "first": first, **_bridge_bundle(instance)}


def _bridge_bundle(instance_id: str) -> dict[str, Any]:
    """Whether the instance runs on a pool unit, and the version its bridge reports (GET /v1/bundle)."""
    from shared.bridge.client import bridge_client
    from shared.lifecycle.wake import machine_target

    target = machine_target(instance_id)
    return {"warm": target.app.startswith("oa-pool-"), "version": bridge_client().bundle_state(target).get("version")}


@benchmark("warm-hire", "warm-pool hire → first token, real bridge (offline runtime)")
def warm_hire(ctx: Context) -> Result:
    from bench.lifecycle import _default_db
    from devstack.chat_stack import start_local_chat
    from shared.config import reset_settings
    from shared.data import migrate

    hires = 10 if ctx.full else 3
    saved = dict(os.environ)
    bdb = ctx.database()
    tag = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="oa-bench-warm-"))
    os.environ["LOG_LEVEL"] = "WARNING"
    jwt = os.environ.get("SUPABASE_JWT_SECRET") or "bench-jwt-secret-0123456789abcdef"
    # The API in its own process (as a function runs); the worker (claim, refill) is this process.
    local = start_local_chat(tmp, fly_token="bench-fly-token", machine_env={
        "OFFLINE_TOKEN_INTERVAL_MS": str(PACE_MS), "OFFLINE_TOKENS": "20"}, grace_s=1,
        api_process_env={**os.environ, "DATABASE_URL": bdb.url, "OPENAGENTS_ENV": "test", "SUPABASE_JWT_SECRET": jwt})
    os.environ.update({**local.env, "DATABASE_URL": bdb.url, "OPENAGENTS_ENV": "test", "SUPABASE_JWT_SECRET": jwt,
                       "WARM_POOL_SIZE": "0"})
    reset_settings()
    try:
        with _default_db(bdb.url, 24) as db:
            from shared.lifecycle.warm_pool import drain_pool, refill

            migrate.seed(bdb.url, log=lambda *_: None)
            with httpx.Client(base_url=local.base_url, timeout=60) as http:
                users = [http.post("/api/dev/sign-in", json={"email": f"warm-{tag}-{i}@bench.openagents.invalid"}).json()
                         for i in range(hires + 1)]
            with db.service() as tx:
                tx.sql("update credit_balances set topup_credits = 1000000 where user_id = any(%(u)s::uuid[])",
                       {"u": [u["user_id"] for u in users]})
            slug = _bench_agent(db, users[0]["user_id"], tag)
            heads = [{"Authorization": f"Bearer {u['access_token']}"} for u in users]
            try:
                cold = _hire_to_first_token(local, db, heads[0], slug)  # the pool off: the whole saga
                os.environ["WARM_POOL_SIZE"] = str(WARM_POOL)
                reset_settings()
                t = time.perf_counter()
                made = refill()
                print(f"warm pool: {made.built} units made (app + network + volume + machine started, then suspended)"
                      f" in {time.perf_counter() - t:.1f} s")
                runs = [_hire_to_first_token(local, db, heads[1 + i], slug) for i in range(hires)]
            finally:
                drain_pool()
        warm = [r for r in runs if r["warm"]]
        firsts = [r["first"] for r in warm]
        med = statistics.median(firsts) if firsts else float("inf")
        print(f"cold hire (pool empty, the saga) → first token {cold['first']:.2f} s"
              f" (running after {cold['running']:.2f} s)")
        pushed = sum(1 for r in [cold, *runs] if r["version"])
        print(f"{len(warm)}/{hires} hires claimed a pool unit; the bridge reports the agent's version"
              f" ({len(BUNDLE_FILES)} files pushed before `running`) on {pushed}/{hires + 1} instances")
        if warm:
            print(f"  hire request      p50 {statistics.median(r['hired'] for r in warm) * 1000:.0f} ms")
            print(f"  → running         p50 {statistics.median(r['running'] for r in warm) * 1000:.0f} ms"
                  " (worker pickup, claim, resume, bridge ready, bundle push)")
            print(f"  → first token     p50 {med * 1000:.0f} ms, max {max(firsts) * 1000:.0f} ms"
                  f"  goal {WARM_GOAL}  {verdict(WARM_GOAL, med)}")
        return Result("warm-hire", WARM_GOAL, value=med, unit="s")
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
        reset_settings()

"""`stream`: chat through route + SSE gateway + emulator proxy vs straight to the bridge, at a fixed
token pace (ARCHITECTURE §7: + < 5 ms time to first token, ≥ 90% token rate, 200 concurrent streams).

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
    from shared.config import reset_settings
    from shared.local.chat_stack import drain_jobs, start_local_chat

    bench_db = ctx.database()
    tmp = Path(tempfile.mkdtemp(prefix="oa-bench-stream-"))
    os.environ["LOG_LEVEL"] = "WARNING"
    local = start_local_chat(tmp, fly_token="bench-fly-token", machine_env={
        "OFFLINE_TOKEN_INTERVAL_MS": str(PACE_MS), "OFFLINE_TOKENS": str(TOKENS)}, grace_s=1)
    os.environ.update({**local.env, "DATABASE_URL": bench_db.url})
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
        concurrent = 200 if ctx.full else 20
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

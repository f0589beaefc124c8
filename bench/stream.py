"""`stream`: chat through route + SSE gateway + emulator proxy vs straight to the bridge, at a fixed
token pace (ARCHITECTURE §7: + < 5 ms time to first token, ≥ 90% token rate, 200 concurrent streams).
`warm-hire` lives in `bench/warm_hire.py`.

Both paths talk to the same real agent machine (the bridge, offline runtime, one token every
`PACE_MS`). "Direct" is `POST /v1/turns` on the bridge's own port; "proxied" is the whole product path:
`POST /api/chat/stream` (auth, 402 check, turn + messages written, frames persisted and broadcast,
settlement) → SSE gateway (stream token, fly-replay) → emulator proxy → bridge.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.registry import Context, Goal, Result, benchmark, verdict
from bench.stream_client import Streamed

PACE_MS = 10
TOKENS = 100
CONCURRENT_FULL = 200
TTFT_GOAL = Goal("<", 5, "ms")
RATE_GOAL = Goal(">=", 0.9)
CPU_GOAL = Goal("<=", 1.0)


def _setup(ctx: Context) -> tuple[Any, Any, dict[str, Any]]:
    from devstack.chat_stack import drain_jobs, start_local_chat
    from devstack.serve import CHAT_TRACE_ENV
    from shared.config import reset_settings

    bench_db = ctx.database()
    tmp = Path(tempfile.mkdtemp(prefix="oa-bench-stream-"))
    trace_file = tmp / "chat-trace.jsonl"
    os.environ["LOG_LEVEL"] = "WARNING"
    # The API runs in its own process (as a function does), not in the load generator's. One user
    # makes every turn: its abuse guards (the chat rate limit, the cap on concurrent streams) are
    # raised out of reach, since what is measured is the path's capacity; the rate limit is still
    # counted on every turn, as in production (a limit of 0 would skip the count).
    local = start_local_chat(tmp, fly_token="bench-fly-token", machine_env={
        "OFFLINE_TOKEN_INTERVAL_MS": str(PACE_MS), "OFFLINE_TOKENS": str(TOKENS)}, grace_s=1,
        api_process_env={**os.environ, "DATABASE_URL": bench_db.url, "OPENAGENTS_ENV": "test", "DATABASE_POOL_MAX": "40",
                         "CHAT_STREAMS_PER_USER": str(CONCURRENT_FULL + 10), "RATE_LIMITS": '{"chat": {"limit": 1000000000}}',
                         "SUPABASE_JWT_SECRET": os.environ.get("SUPABASE_JWT_SECRET") or "bench-jwt-secret-0123456789abcdef",
                         CHAT_TRACE_ENV: str(trace_file)})
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
    return local, bench_db, {"headers": headers, "instance": instance, "direct": direct, "trace_file": trace_file,
                             "machine": target["fly_machine_id"]}


def _run(local: Any, info: dict[str, Any], path: str, n: int, concurrency: int) -> list[Streamed]:
    """`n` streams on `path`, `concurrency` at a time, from a load generator in its own process
    (`bench.stream_client` says why)."""
    job = {"base_url": local.base_url, "path": path, "n": n, "concurrency": concurrency, "direct": info["direct"],
           "headers": info["headers"], "instance": info["instance"]}
    done = subprocess.run([sys.executable, "-m", "bench.stream_client"], input=json.dumps(job), capture_output=True,
                          text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr[-2000:]}")
    return [Streamed(**json.loads(line)) for line in done.stdout.splitlines() if line.strip()]


def _summary(rows: list[Streamed]) -> tuple[float, float]:
    ttft = statistics.median(r.ttft for r in rows) * 1000
    rate = statistics.median((r.tokens - 1) / (r.last - r.first) for r in rows if r.last > r.first)
    return ttft, rate


# --- where the added milliseconds go -----------------------------------------------------------------

# (label, from mark, to mark): bench marks `sent`/`first`, the API's (`shared.chat.timing`), the edge's
# (`devstack.emulators.fly.proxy.trace_hook`, prefixed `edge.`). Consecutive, so they add up to the total.
PARTS = (
    ("request in: HTTP, auth, body", "sent", "received"),
    ("turn opening: instance, hold, lease, messages", "received", "opened"),
    ("session frame written, machine target (cached)", "opened", "target"),
    ("stream token minted, request to the edge", "target", "edge.edge_in"),
    ("gateway hop: edge → gateway → fly-replay answer (or the edge's replay cache)", "edge.edge_in", "edge.replay_asked"),
    ("replay: lookup, replayed request sent", "edge.replay_asked", "edge.replay_sent"),
    ("bridge: headers, then first token (the direct path's part)", "edge.replay_sent", "edge.token_out"),
    ("edge → API: first token read and relayed", "edge.token_out", "token_in"),
    ("first frame write: API → client", "token_in", "first"),
)


class _EdgeTrace:
    """The emulated edge's marks, collected in this process (the emulator's thread calls `hook`)."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = []
        self._lock = threading.Lock()

    def hook(self, mark: str, at: float) -> None:
        with self._lock:
            self.marks.append((mark, at))

    def within(self, start: float, end: float) -> dict[str, float]:
        """The first of each mark between `start` and `end` (streams run one at a time here)."""
        with self._lock:
            found: dict[str, float] = {}
            for mark, at in self.marks:
                if start <= at <= end:
                    found.setdefault(f"edge.{mark}", at)
            return found


def _api_marks(trace_file: Path) -> dict[str, dict[str, float]]:
    if not trace_file.exists():
        return {}
    rows = [json.loads(line) for line in trace_file.read_text().splitlines() if line.strip()]
    return {r["turn_id"]: r["marks"] for r in rows}


def _breakdown(rows: list[Streamed], edge: _EdgeTrace, trace_file: Path) -> list[tuple[str, float]]:
    """Median ms of each part over the streams every mark was seen for, and the total's."""
    api = _api_marks(trace_file)
    per_part: list[list[float]] = [[] for _ in PARTS]
    totals: list[float] = []
    for r in rows:
        marks = {"sent": r.sent, "first": r.first, **api.get(r.turn_id or "", {}), **edge.within(r.sent, r.first)}
        if not all(a in marks and b in marks for _, a, b in PARTS):
            continue
        for i, (_, a, b) in enumerate(PARTS):
            per_part[i].append((marks[b] - marks[a]) * 1000)
        totals.append(r.ttft * 1000)
    if not totals:
        return []
    return [(label, statistics.median(v)) for (label, _, _), v in zip(PARTS, per_part, strict=True)] + [
        ("total (median of the same streams)", statistics.median(totals))]


# Under concurrency the edge's marks cannot be told apart per stream; the API's can (by turn).
API_PARTS = (("request in", "sent", "received"), ("turn opening", "received", "opened"),
             ("to the bridge's headers", "opened", "upstream"), ("to the first token", "upstream", "token_in"),
             ("frame write", "token_in", "first"))


def _api_breakdown(rows: list[Streamed], trace_file: Path) -> str:
    api = _api_marks(trace_file)
    per_part: list[list[float]] = [[] for _ in API_PARTS]
    for r in rows:
        marks = {"sent": r.sent, "first": r.first, **api.get(r.turn_id or "", {})}
        if all(a in marks and b in marks for _, a, b in API_PARTS):
            for i, (_, a, b) in enumerate(API_PARTS):
                per_part[i].append((marks[b] - marks[a]) * 1000)
    if not per_part[0]:
        return "no marks"
    return ", ".join(f"{label} {statistics.median(v):.1f}" for (label, _, _), v in zip(API_PARTS, per_part, strict=True))


def _token_costs(n: int = 200) -> tuple[float, float]:
    """Median ms to mint and to verify one stream token (the same code and key kind, this process)."""
    from shared.streaming import tokens

    priv, pub = tokens.new_keypair()
    target = tokens.StreamTarget(str(uuid.uuid4()), "oa-bench", "0123456789abcd", str(uuid.uuid4()))
    mint, check = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        tok = tokens.sign(target, priv)
        t1 = time.perf_counter()
        tokens.verify(tok, pub)
        t2 = time.perf_counter()
        mint.append(t1 - t0)
        check.append(t2 - t1)
    return statistics.median(mint) * 1000, statistics.median(check) * 1000


# --- CPU per 1,000 tokens ------------------------------------------------------------------------------

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int | None = None, pgid: int | None = None) -> float:
    """CPU seconds (user + system, all threads) of one process, or of every process in a group."""
    total = 0
    for entry in ([str(pid)] if pid is not None else os.listdir("/proc")):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()  # after `pid (comm)`: state is field 3
        if pgid is not None and int(fields[2]) != pgid:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total * _TICK_S


def _pgid_of(local: Any, app: str | None = None, machine_id: str | None = None) -> int | None:
    def find(s: Any) -> int | None:
        for m in s.machines.values():
            if (machine_id is not None and m.id == machine_id) or (app is not None and m.app.name == app):
                record = s.runner.process_record(m)
                if record is not None:
                    return int(record["pgid"])
        return None

    result: int | None = local.fly.call(find)
    return result


class _CpuMeter:
    def __init__(self, local: Any, info: dict[str, Any]) -> None:
        from devstack.fly_dev import SSE_GATEWAY_APP

        self.api_pid: int | None = local.api_pid
        self.bridge = _pgid_of(local, machine_id=info["machine"])
        self.gateway = _pgid_of(local, app=SSE_GATEWAY_APP)

    def read(self) -> dict[str, float]:
        return {"api": _cpu_of(pid=self.api_pid) if self.api_pid else 0.0,
                "bridge": _cpu_of(pgid=self.bridge) if self.bridge else 0.0,
                "gateway": _cpu_of(pgid=self.gateway) if self.gateway else 0.0}


@benchmark("stream", "chat through route + gateway + proxy vs direct to the bridge")
def stream(ctx: Context) -> Result:
    from devstack.emulators.fly import proxy

    saved = dict(os.environ)
    local, _bench_db, info = _setup(ctx)
    edge = _EdgeTrace()
    proxy.trace_hook = edge.hook
    try:
        sequential = 30 if ctx.full else 8
        concurrent = CONCURRENT_FULL if ctx.full else 20
        _run(local, info, "direct", 3, 1)
        _run(local, info, "proxied", 3, 1)  # warm both paths (imports, pools, prepared statements)
        # Alternating rounds: load from elsewhere on the machine falls on both paths alike.
        direct_rows: list[Streamed] = []
        proxied_rows: list[Streamed] = []
        cpu = _CpuMeter(local, info)
        spent = {"api": 0.0, "bridge": 0.0, "gateway": 0.0}
        for _ in range(2):
            direct_rows += _run(local, info, "direct", sequential // 2, 1)
            before = cpu.read()
            proxied_rows += _run(local, info, "proxied", sequential // 2, 1)
            spent = {k: v + cpu.read()[k] - before[k] for k, v in spent.items()}
        d_ttft, d_rate = _summary(direct_rows)
        p_ttft, p_rate = _summary(proxied_rows)
        print(f"pace {PACE_MS} ms/token, {TOKENS} tokens per answer; {len(direct_rows)} sequential streams per path")
        print(f"  time to first token   direct {d_ttft:.1f} ms   proxied {p_ttft:.1f} ms   added {p_ttft - d_ttft:.1f} ms"
              f"  goal {TTFT_GOAL}  {verdict(TTFT_GOAL, p_ttft - d_ttft)}")
        print(f"  token rate            direct {d_rate:.1f}/s   proxied {p_rate:.1f}/s   ratio {p_rate / d_rate:.3f}"
              f"  goal {RATE_GOAL}  {verdict(RATE_GOAL, p_rate / d_rate)}")
        parts = _breakdown(proxied_rows, edge, info["trace_file"])
        print(f"  proxied time to first token, part by part (median ms; direct baseline {d_ttft:.2f} ms):")
        for label, ms in parts:
            print(f"    {label:<78} {ms:7.2f}")
        mint, check = _token_costs()
        print(f"    (stream token: mint {mint:.3f} ms, verify {check:.3f} ms, measured in the load generator)")
        hits = sum(1 for r in proxied_rows if "edge.cache_hit" in edge.within(r.sent, r.first))
        print(f"    (the edge's replay cache answered {hits} of {len(proxied_rows)} turns: the gateway was asked"
              f" only for the others)")
        seq_tokens = sum(r.tokens for r in proxied_rows) / 1000
        print(f"  CPU per 1,000 tokens (one stream at a time): API {spent['api'] / seq_tokens * 1000:.0f} ms relayed,"
              f" gateway {spent['gateway'] / seq_tokens * 1000:.0f} ms, bridge {spent['bridge'] / seq_tokens * 1000:.0f} ms"
              " emitted")
        proxy.trace_hook = None  # the concurrent phase runs without the edge's marks
        # Warmed at its concurrency first: what is measured is the steady state, not the API's pools
        # (database connections, each with its SCRAM handshake; threads) growing to that size.
        _run(local, info, "direct", concurrent, concurrent)
        _run(local, info, "proxied", concurrent, concurrent)
        t0, c0 = time.perf_counter(), cpu.read()
        dc = _run(local, info, "direct", concurrent, concurrent)
        t1, c1 = time.perf_counter(), cpu.read()
        pc = _run(local, info, "proxied", concurrent, concurrent)
        t2, c2 = time.perf_counter(), cpu.read()
        cd_ttft, cd_rate = _summary(dc)
        cp_ttft, cp_rate = _summary(pc)
        print(f"{concurrent} concurrent streams: all finished: direct {len(dc)}/{concurrent} in {t1 - t0:.1f} s,"
              f" proxied {len(pc)}/{concurrent} in {t2 - t1:.1f} s")
        print(f"  time to first token   direct {cd_ttft:.1f} ms   proxied {cp_ttft:.1f} ms")
        print(f"    proxied, part by part (median ms): {_api_breakdown(pc, info['trace_file'])}")
        print(f"  token rate            direct {cd_rate:.1f}/s   proxied {cp_rate:.1f}/s   ratio {cp_rate / cd_rate:.3f}"
              f"  goal {RATE_GOAL}  {verdict(RATE_GOAL, cp_rate / cd_rate)}")
        tokens = sum(r.tokens for r in pc) / 1000
        direct_tokens = sum(r.tokens for r in dc) / 1000
        api_ms = (c2["api"] - c1["api"]) / tokens * 1000
        gateway_ms = (c2["gateway"] - c1["gateway"]) / tokens * 1000
        bridge_ms = (c2["bridge"] - c1["bridge"]) / tokens * 1000
        bridge_direct_ms = (c1["bridge"] - c0["bridge"]) / direct_tokens * 1000
        print(f"  CPU per 1,000 tokens (proxied phase): API {api_ms:.0f} ms relayed, gateway {gateway_ms:.0f} ms,"
              f" bridge {bridge_ms:.0f} ms emitted (direct phase: bridge {bridge_direct_ms:.0f} ms)")
        if bridge_ms > 0:
            ratio = (api_ms + gateway_ms) / bridge_ms
            print(f"  API + gateway CPU / bridge CPU per token   ratio {ratio:.2f}  goal {CPU_GOAL}"
                  f"  {verdict(CPU_GOAL, ratio)}")
        return Result("stream", TTFT_GOAL, value=max(0.0, p_ttft - d_ttft), unit="ms")
    finally:
        proxy.trace_hook = None
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
        from shared.config import reset_settings

        reset_settings()

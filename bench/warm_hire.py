"""`warm-hire`: hire from the warm pool → first token (issue 14 item 3a: < 1 s locally; ARCHITECTURE §7
says < 2 s). Published best elsewhere, as reference lines: 4 s from a warm pool, 23 s from a warm image.

The runtime is `OPENAGENTS_AGENT_RUNTIME` (default `offline`, the bridge's deterministic model). With
`openclaw` every pool unit runs the real OpenClaw gateway (the pinned npm package, installed once into
the cache) behind its bridge: booted until the bridge is ready, then suspended — in the emulator's
process mode that is SIGSTOP of the machine's process group, so the booted gateway's memory is kept,
as Fly's suspend snapshot keeps it; the resume is SIGCONT. Models are the fake OpenAI-compatible LLM
behind the platform's LLM proxy.

What one hire goes through, each mark in seconds from the hire request (read off the worker's own
log records, the Fly and bridge calls included, in this process): the API answers → the provision job
claims a unit → the Fly start call (the resume) returns → the bridge's `/ready` answers → the agent's
files are pushed → the API says `running` → `POST /api/chat/stream` yields its first token.

Phases: one cold hire (the pool empty: the whole saga), hires one at a time, then C hires at once
(p50/p99; 50 on the offline runtime, as many as memory allows on OpenClaw — a booted gateway holds
about 1.2 GB). Every hire then chats once more, which shows how much of its first token was the
runtime's own first-turn setup. Refills are held off while a phase is measured (the pool-wide lock
is taken, so the refill each claim defers finds it busy): on Fly a refill boots its unit on another
host, here it would boot it on the same two cores.

OpenClaw does much of its setup lazily on its first turn (session store and its maintenance, tool
catalogue, system prompt), so the pool gives every unit one warm-up turn through its bridge after it
is ready and before it is suspended (`shared/lifecycle/warm_up.py`); the LLM proxy answers that turn's
model calls itself, free, as the unit's token acts for no one yet (`shared/llm/warmup.py`). The pool
build line says how long the warm-ups took and how they ended.

`WARM_HIRE_SUSPENDED_S` (default 0) keeps the units suspended that long before the one-at-a-time hires,
as a pool unit waits on Fly. It matters on OpenClaw: its worker threads retire after 30-60 s idle and
some upkeep runs on timers, and a SIGSTOP'd process's timers all come due at the SIGCONT, so a unit
suspended for more than a minute respawns those workers (module loading, seconds of CPU) during the
hire's first turn; hired seconds after the build, as by default, it does not.

`WARM_HIRE_TRACE=1` (OpenClaw only) adds a line per chat turn of the one-at-a-time hires: where its time
went on the way to the first token — the API, the bridge, OpenClaw's run, its model call, the LLM proxy
(`bench/warm_hire_trace.py`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.registry import Context, Goal, Result, benchmark, verdict
from bench.warm_hire_trace import ENV as TRACE_ENV
from bench.warm_hire_trace import TraceFiles
from bench.warm_hire_trace import report as trace_report
from shared.streaming import sse

WARM_GOAL = Goal("<", 1, "s")
PACE_MS = 10
BUNDLE_FILES = {"agent.yaml": b"name: Bench planner\n", "workspace/SOUL.md": b"You plan the day.\n",
                "workspace/AGENTS.md": b"# Agents\n" + b"Be brief.\n" * 200}
REFERENCE = "published best: 4 s from a warm pool, 23 s from a warm image"
OPENCLAW_UNIT_GB = 1.3  # the most one booted gateway + bridge was seen to hold (1.2 GB measured)
MEMORY_HEADROOM_GB = 8.0  # left to everything else on the machine
OPENCLAW_BOOT_TIMEOUT_S = 600  # a gateway boot takes 20 s alone and minutes on two loaded cores
CONCURRENT_FULL = 50
# Lifecycle jobs the worker runs at a time in the concurrent phase: one slot per hire. A claim job
# mostly waits (on Fly's start, the bridge's /ready and the bundle push), so with fewer slots than
# hires the rest queue a whole job's time for a slot (16 slots: p50 claimed after 8.4 s, 50: 3-6 s).
CONCURRENT_WORKERS = CONCURRENT_FULL
OPENCLAW_CONCURRENT_MAX = 5  # on two shared cores more booted gateways add only queueing
JWT_FALLBACK = "bench-jwt-secret-0123456789abcdef"
POLL_S = 0.005  # one hire's status poll
POLLS_PER_S = 400  # all concurrent hires' status polls together


@dataclass
class Hire:
    """One hire's marks, seconds from the hire request."""

    instance: str = ""
    app: str = ""
    marks: dict[str, float] = field(default_factory=dict)
    warm: bool = False
    version: str | None = None
    next_turn: float = 0.0  # seconds to the first token of the instance's second chat turn
    turns: list[tuple[float, float]] = field(default_factory=list)  # each chat turn's (sent, first token), wall clock

    @property
    def first(self) -> float:
        return self.marks["first token"]


class _Marks(logging.Handler):
    """Wall-clock times of the worker's log records that mark a hire's steps, by Fly app."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._guard = threading.Lock()
        self.by_app: dict[str, dict[str, list[float]]] = {}
        self.app_of: dict[str, str] = {}
        self.warm_ups: list[tuple[str, float]] = []  # (outcome, seconds) of each pool unit's warm-up turn

    def _mark(self, app: str, name: str, at: float) -> None:
        with self._guard:
            self.by_app.setdefault(app, {}).setdefault(name, []).append(at)

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", None) or {}
        msg = record.getMessage()
        if record.levelno >= logging.WARNING:  # what the loggers would have printed anyway
            print(f"{record.name}: {msg} {fields}"[:500], file=sys.stderr, flush=True)
        if record.name == "httpx" and isinstance(record.args, tuple) and len(record.args) >= 4:
            method, url, status = str(record.args[0]), str(record.args[1]), record.args[3]
            path = httpx.URL(url).path
            parts = path.split("/")
            if method == "POST" and path.endswith("/start") and "apps" in parts:
                self._mark(parts[parts.index("apps") + 1], "resumed", record.created)
            elif method == "GET" and path.endswith("/ready") and status == 200 and "_app" in parts:
                self._mark(parts[parts.index("_app") + 1], "bridge ready", record.created)
        elif msg == "warm-pool unit warmed up":
            with self._guard:
                self.warm_ups.append((str(fields.get("outcome")), float(fields.get("seconds") or 0.0)))
        elif msg == "warm-pool unit claimed":
            app = str(fields.get("fly_app"))
            with self._guard:
                self.app_of[str(fields.get("instance_id"))] = app
            self._mark(app, "claimed", record.created)
        elif msg == "bundle pushed":
            with self._guard:
                app = self.app_of.get(str(fields.get("instance_id")), "")
            self._mark(app, "files pushed", record.created)


@contextmanager
def _watching() -> Iterator[_Marks]:
    marks = _Marks()
    loggers = [logging.getLogger(n) for n in ("httpx", "openagents.lifecycle")]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.INFO)
        lg.propagate = False  # INFO lines are read here, not printed
        lg.addHandler(marks)
    try:
        yield marks
    finally:
        for lg, (level, propagate) in zip(loggers, saved, strict=True):
            lg.removeHandler(marks)
            lg.setLevel(level)
            lg.propagate = propagate


@contextmanager
def _refills_held() -> Iterator[None]:
    """The pool-wide lock held: a refill that runs meanwhile finds the pool busy and makes nothing."""
    from shared.lifecycle.warm_pool import _pool_lock

    with _pool_lock() as locked:
        if not locked:
            raise RuntimeError("a refill is still running")
        yield


@contextmanager
def _worker(db: Any, concurrency: int) -> Iterator[None]:
    """A worker in this process for the block, as `openagents worker` runs one (LISTEN/NOTIFY, so a job
    is picked up as it is deferred), on the lifecycle queue, its periodic tasks set aside. On leaving, it
    finishes what is waiting, then stops."""
    import asyncio

    from jobs.app import app
    from jobs.worker import size_executor

    app.perform_import_paths()  # type: ignore[no-untyped-call]
    periodic = dict(app.periodic_registry.periodic_tasks)
    app.periodic_registry.periodic_tasks.clear()
    loop = asyncio.new_event_loop()
    listening = threading.Event()
    task: list[asyncio.Task[None]] = []

    async def work() -> None:
        size_executor(concurrency)  # else asyncio's default executor (6 threads on 2 cores) caps the slots
        async with app.open_async():
            running = asyncio.ensure_future(app.run_worker_async(
                concurrency=concurrency, wait=True, queues=["lifecycle"], install_signal_handlers=False,
                listen_notify=True, delete_jobs="successful"))
            task.append(running)
            listening.set()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    thread = threading.Thread(target=loop.run_until_complete, args=(work(),), daemon=True, name="bench-worker")
    thread.start()
    listening.wait(30)
    time.sleep(0.3)  # its LISTEN is in place
    try:
        yield
    finally:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with db.service() as tx:
                left = tx.sql("select count(*) as n from procrastinate.procrastinate_jobs"
                              " where queue_name = 'lifecycle' and status in ('todo', 'doing')").fetchone()["n"]
            if not left:
                break
            time.sleep(0.05)
        if task:
            loop.call_soon_threadsafe(task[0].cancel)
        thread.join(60)
        loop.close()
        app.periodic_registry.periodic_tasks.update(periodic)


def _first_token(client: httpx.Client, headers: dict[str, str], instance: str,
                 turns: list[tuple[float, float]] | None = None) -> float:
    """Seconds from POST /api/chat/stream to its first token (the stream is read to its end); the turn's
    wall-clock (sent, first token) is appended to `turns`."""
    sent = time.time()
    t0 = time.perf_counter()
    first: float | None = None
    last: Any = None
    body = {"instance_id": instance, "message": "plan my day", "client_message_id": uuid.uuid4().hex}
    with client.stream("POST", "/api/chat/stream", json=body, headers=headers, timeout=600) as resp:
        resp.raise_for_status()
        for ev in sse.parse(resp.iter_lines()):
            if isinstance(ev, sse.Event):
                last = ev
                if ev.event == "token" and first is None:
                    first = time.perf_counter() - t0
    if first is None:
        raise RuntimeError(f"the stream ended without a token after {time.perf_counter() - t0:.1f} s; last {last!r}"[:600])
    if turns is not None:
        turns.append((sent, sent + first))
    return first


def _hire(client: httpx.Client, headers: dict[str, str], slug: str, poll_s: float = POLL_S) -> Hire:
    """POST /api/instances → `running` (polled every `poll_s`) → first token; the marks the client sees."""
    h = Hire()
    t0 = time.time()
    resp = client.post("/api/instances", json={"agent": slug}, headers=headers)
    resp.raise_for_status()
    h.instance = resp.json()["id"]
    h.marks["hire answered"] = time.time() - t0
    while True:
        status = client.get(f"/api/instances/{h.instance}", headers=headers).json()["status"]
        if status == "running":
            break
        if status == "error" or time.time() - t0 > 240:
            raise RuntimeError(f"the hire ended {status}")
        time.sleep(poll_s)
    h.marks["running"] = time.time() - t0
    h.marks["first token"] = h.marks["running"] + _first_token(client, headers, h.instance, h.turns)
    h.marks["t0"] = t0
    # The same path once more: what the runtime's own first-turn setup added to the hire's first token.
    h.next_turn = _first_token(client, headers, h.instance, h.turns)
    return h


def _hire_many(local: Any, db: Any, heads: list[dict[str, str]], slug: str, marks: _Marks,
               concurrency: int) -> list[Hire]:
    """len(heads) hires at once (one user each), a polling worker running `concurrency` jobs at a time."""
    from shared.bridge.client import bridge_client
    from shared.lifecycle.wake import machine_target

    n = len(heads)
    # The hires' status polls together at most POLLS_PER_S: 50 clients polling every 5 ms were 10,000
    # requests a second to the API on the machine's two cores, and measured mostly themselves.
    poll_s = max(POLL_S, n / POLLS_PER_S)
    limits = httpx.Limits(max_connections=2 * n + 10, max_keepalive_connections=2 * n + 10)
    with httpx.Client(base_url=local.base_url, timeout=60, trust_env=False, limits=limits) as client, \
            _worker(db, concurrency), ThreadPoolExecutor(n) as pool:
        hires = list(pool.map(lambda head: _hire(client, head, slug, poll_s), heads))
    for h in hires:
        target = machine_target(h.instance)
        h.app = target.app
        h.warm = target.app.startswith("oa-pool-")
        h.version = bridge_client().bundle_state(target).get("version")
        t0 = h.marks.pop("t0")
        for name, times in marks.by_app.get(h.app, {}).items():
            after = [at for at in times if at >= t0]  # a unit's build polled /ready too
            if after:
                h.marks[name] = min(after) - t0
    return hires


STEPS = ("hire answered", "claimed", "resumed", "bridge ready", "files pushed", "running", "first token")
WHAT = {"hire answered": "the API answers 202", "claimed": "worker pickup + claim (one SQL statement)",
        "resumed": "Fly start → SIGCONT of the suspended unit", "bridge ready": "the bridge's /ready answers",
        "files pushed": f"PUT /v1/bundle ({len(BUNDLE_FILES)} files)", "running": "the API says running (polled)",
        "first token": "POST /api/chat/stream → first token"}


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def _breakdown(hires: list[Hire], title: str) -> None:
    print(title)
    prev: list[float] = [0.0] * len(hires)
    for step in STEPS:
        at = [h.marks.get(step) for h in hires]
        if any(a is None for a in at):
            print(f"  {step:<14} (not seen on every hire)")
            continue
        got = [float(a) for a in at if a is not None]
        delta = [a - b for a, b in zip(got, prev, strict=True)]
        prev = got
        print(f"  {step:<14} at p50 {statistics.median(got) * 1000:6.0f} ms"
              f"  (+{statistics.median(delta) * 1000:5.0f} ms)  {WHAT[step]}")


def _bench_agent(db: Any, creator_id: str, tag: str) -> str:
    """A published agent whose current version has a bundle (so the claim pushes files): its slug."""
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


def _available_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 8.0


def _stop_machines(local: Any, hires: list[Hire]) -> None:
    """The hired machines stopped (their memory freed for the next phase)."""
    from shared.lifecycle.wake import machine_target

    client = local.fly.client()
    for h in hires:
        target = machine_target(h.instance)
        try:
            client.stop(target.app, target.machine_id)
        except Exception:  # noqa: BLE001, S110 - a machine already down is what is wanted
            pass


def _warm_ups(marks: _Marks) -> str:
    """How the pool build's warm-up turns went: outcomes and the median time."""
    if not marks.warm_ups:
        return "no warm-up turn seen"
    outcomes = sorted({o for o, _ in marks.warm_ups})
    counts = ", ".join(f"{sum(1 for x, _ in marks.warm_ups if x == o)} {o}" for o in outcomes)
    return f"warm-ups: {counts}, p50 {statistics.median(s for _, s in marks.warm_ups):.2f} s"


def _build_pool(size: int) -> float:
    from shared.config import reset_settings
    from shared.lifecycle.warm_pool import refill

    os.environ["WARM_POOL_SIZE"] = str(size)
    reset_settings()
    t = time.perf_counter()
    for _ in range(5):  # a build that timed out under load stays `creating`; the next refill resumes it
        made = refill()
        if made.ready >= size:
            return time.perf_counter() - t
    raise RuntimeError(f"the pool has {made.ready} of {size} units ready")


@dataclass
class _Plan:
    runtime: str
    sequential: int
    concurrent: int
    cold: bool  # one hire with the pool empty (the whole saga, a boot included)


def _plan(ctx: Context, runtime: str) -> tuple[_Plan, int]:
    fits = int(max(0.0, _available_gb() - MEMORY_HEADROOM_GB) // OPENCLAW_UNIT_GB)
    if runtime == "openclaw":
        if ctx.full:
            return _Plan(runtime, 3, min(OPENCLAW_CONCURRENT_MAX, fits), True), fits
        return _Plan(runtime, 1, 0, False), fits
    if ctx.full:
        return _Plan(runtime, 10, CONCURRENT_FULL, True), fits
    return _Plan(runtime, 3, 5, True), fits


def _report(hires: list[Hire], title: str, runtime: str) -> float:
    """Prints the breakdown; the median hire → first token (inf when no hire claimed a unit)."""
    warm = [h for h in hires if h.warm]
    if not warm:
        print(f"{title}: no hire claimed a pool unit")
        return float("inf")
    firsts = [h.first for h in warm]
    _breakdown(warm, f"{title} ({runtime}), p50 of {len(warm)}:")
    med = statistics.median(firsts)
    print(f"  hire → first token  p50 {med * 1000:.0f} ms  p99 {_pct(firsts, 99) * 1000:.0f} ms"
          f"  max {max(firsts) * 1000:.0f} ms  goal {WARM_GOAL}  {verdict(WARM_GOAL, med)}")
    print(f"  the instance's next chat turn → first token p50 {statistics.median(h.next_turn for h in warm) * 1000:.0f}"
          " ms (one at a time, what the first turn had more is the runtime's own first-turn setup)")
    return med


@benchmark("warm-hire", "warm-pool hire → first token, real bridge ($OPENAGENTS_AGENT_RUNTIME: offline or openclaw)")
def warm_hire(ctx: Context) -> Result:
    from bench.lifecycle import _default_db
    from devstack.chat_stack import start_local_chat
    from shared.config import reset_settings
    from shared.data import migrate

    runtime = os.environ.get("OPENAGENTS_AGENT_RUNTIME") or "offline"
    if runtime not in ("offline", "openclaw"):
        raise ValueError(f"OPENAGENTS_AGENT_RUNTIME must be offline or openclaw, not {runtime!r}")
    plan, fits = _plan(ctx, runtime)
    saved = dict(os.environ)
    bdb = ctx.database()
    tag = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="oa-bench-warm-"))
    os.environ["LOG_LEVEL"] = "WARNING"
    jwt = os.environ.get("SUPABASE_JWT_SECRET") or JWT_FALLBACK
    api_env = {**os.environ, "DATABASE_URL": bdb.url, "OPENAGENTS_ENV": "test", "SUPABASE_JWT_SECRET": jwt,
               "DATABASE_POOL_MAX": "40", "CHAT_STREAMS_PER_USER": "10"}
    stops: list[Any] = []
    openclaw = None
    machine_env = {"OFFLINE_TOKEN_INTERVAL_MS": str(PACE_MS), "OFFLINE_TOKENS": "20"}
    trace = TraceFiles.under(tmp) if runtime == "openclaw" and os.environ.get(TRACE_ENV) == "1" else None
    arrivals: list[float] = []  # the fake LLM's, for the trace
    if runtime == "openclaw":
        from devstack.fake_llm import FakeLLM, upstream_env
        from devstack.openclaw_runtime import install

        openclaw = install()
        llm = FakeLLM().start()
        stops.append(llm.stop)
        # A first OpenClaw turn can take longer than a function's stream may (it is then handed to a
        # worker and followed): here it streams in one response, so its first token is seen.
        api_env.update({**upstream_env(llm), "FUNCTION_MAX_DURATION_S": "900"})
        machine_env = {"AGENT_LLM_BASE_URL": llm.base_url, "AGENT_LLM_API_KEY": "fake-key",
                       "AGENT_LLM_MODEL": "fake-model"}  # the LLM proxy the platform provisions wins
        arrivals = llm.arrivals
        if trace is not None:
            machine_env.update(trace.machine_env())
            api_env.update(trace.api_env())
        print(f"runtime: OpenClaw {openclaw.version}, a real gateway per unit; {_available_gb():.1f} GB available"
              f" → {fits} units of ~{OPENCLAW_UNIT_GB} GB fit beside {MEMORY_HEADROOM_GB:.0f} GB headroom"
              f" ({plan.concurrent} used for the concurrent hires, of {CONCURRENT_FULL} asked)")
    else:
        print("runtime: offline (the bridge's deterministic model; OPENAGENTS_AGENT_RUNTIME=openclaw for OpenClaw)")
    # The API in its own process (as a function runs); the worker (claim, refill) is this process.
    local = start_local_chat(tmp, fly_token="bench-fly-token", runtime=runtime, openclaw=openclaw,
                             machine_env=machine_env, grace_s=1, api_process_env=api_env)
    stops.insert(0, local.stop)
    os.environ.update({**local.env, "DATABASE_URL": bdb.url, "OPENAGENTS_ENV": "test", "SUPABASE_JWT_SECRET": jwt,
                       "WARM_POOL_SIZE": "0"})
    if runtime == "openclaw":
        os.environ.update({"LIFECYCLE_START_TIMEOUT_S": str(OPENCLAW_BOOT_TIMEOUT_S),
                           "LIFECYCLE_READY_TIMEOUT_S": str(OPENCLAW_BOOT_TIMEOUT_S)})
    reset_settings()
    cold: Hire | None = None
    seq: list[Hire] = []
    conc: list[Hire] = []
    wall = 0.0
    workers = max(1, min(plan.concurrent, CONCURRENT_WORKERS))
    try:
        with _default_db(bdb.url, 2 * max(workers, 4) + 8) as db:
            from shared.lifecycle.warm_pool import drain_pool

            migrate.seed(bdb.url, log=lambda *_: None)
            with httpx.Client(base_url=local.base_url, timeout=60) as http:
                users = [http.post("/api/dev/sign-in", json={"email": f"warm-{tag}-{i}@bench.openagents.invalid"}).json()
                         for i in range(3 + plan.sequential + plan.concurrent)]
            with db.service() as tx:
                tx.sql("update credit_balances set topup_credits = 1000000 where user_id = any(%(u)s::uuid[])",
                       {"u": [u["user_id"] for u in users]})
            slug = _bench_agent(db, users[0]["user_id"], tag)
            heads = iter([{"Authorization": f"Bearer {u['access_token']}"} for u in users])
            try:
                with _watching() as marks:
                    if plan.cold:
                        cold = _hire_many(local, db, [next(heads)], slug, marks, 4)[0]
                        _stop_machines(local, [cold])
                    took = _build_pool(plan.sequential)
                    print(f"warm pool: {plan.sequential} units made (app + network + volume + machine booted until"
                          f" the bridge is ready, one warm-up turn, then suspended) in {took:.1f} s;"
                          f" {_warm_ups(marks)}")
                    hold = float(os.environ.get("WARM_HIRE_SUSPENDED_S") or 0)
                    if hold > 0:
                        print(f"the units stay suspended {hold:.0f} s before the hires (WARM_HIRE_SUSPENDED_S)")
                        time.sleep(hold)
                    with _refills_held():
                        for _ in range(plan.sequential):
                            seq += _hire_many(local, db, [next(heads)], slug, marks, 4)
                    _stop_machines(local, seq)
                    if plan.concurrent >= 2:
                        drain_pool()
                        marks.warm_ups.clear()
                        took = _build_pool(plan.concurrent)
                        print(f"warm pool: {plan.concurrent} units made in {took:.1f} s; {_warm_ups(marks)}")
                        with _refills_held():
                            t = time.perf_counter()
                            conc = _hire_many(local, db, [next(heads) for _ in range(plan.concurrent)], slug, marks,
                                              workers)
                            wall = time.perf_counter() - t
                        _stop_machines(local, conc)
            finally:
                os.environ["WARM_POOL_SIZE"] = "0"
                reset_settings()
                drain_pool()
        everything = [h for h in [cold, *seq, *conc] if h is not None]
        pushed = sum(1 for h in everything if h.version)
        print(f"the bridge reports the agent's version (its files pushed before `running`) on"
              f" {pushed}/{len(everything)} instances")
        if cold is not None:
            print(f"cold hire (pool empty: the whole saga, a {runtime} boot included) → first token"
                  f" {cold.first:.2f} s (running after {cold.marks['running']:.2f} s)")
        med = _report(seq, "one hire at a time", runtime)
        if conc:
            _report(conc, f"{len(conc)} hires at once, a worker running {workers} jobs at a time", runtime)
            print(f"  all {len(conc)} done in {wall:.1f} s")
        if trace is not None:
            trace_report(trace, [(f"{label} {i + 1}", *turn) for i, h in enumerate(seq)
                                 for label, turn in zip(("hire", "next turn"), h.turns, strict=False)], arrivals)
        print(f"reference: {REFERENCE}")
        if runtime == "openclaw":
            print(f"(figures measured on a shared 2-core machine under load: load average {os.getloadavg()[0]:.1f})")
        return Result("warm-hire", WARM_GOAL, value=med, unit="s")
    finally:
        for stop in stops:
            stop()
        os.environ.clear()
        os.environ.update(saved)
        reset_settings()

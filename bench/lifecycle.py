"""Lifecycle benchmarks (ARCHITECTURE §7).

`health-sweep`: one health-check sweep over 10,000 running instances whose machines live in the local
Fly emulator's simulated mode (goal < 60 s). The machines are put into the emulator directly through
its state hook (`FlyEmulator.call`), the rows with one INSERT; the sweep itself is the real one: Fly's
machine list in pages, the status sync, a `/health` probe of every started machine through the
emulated proxy, the failure bookkeeping.

`hire`: hire → `running`. Part one hires one agent at a time without faults and splits each hire's
time into what Fly takes (API calls with their retries, waiting for `started`, waiting for the bridge
to be ready: all emulated latency) and our own overhead (the API request, the job, its transactions,
the lock, Vault); the headline is our overhead's median. Part two hires many at once under 20%
injected Fly faults of every kind (100 in the full run) and checks that every hire settled
(`running`, or `error` with a reason) and that Fly holds nothing orphaned.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.registry import Context, Goal, Result, benchmark, verdict

EMAIL_DOMAIN = "bench.openagents.invalid"
FLY_TOKEN = "bench-fly-token"
SWEEP_GOAL = Goal("<", 60, "s")
HIRE_GOAL = Goal("<", 100, "ms")
PARALLEL_JOBS = 8


# --- shared plumbing --------------------------------------------------------------------------------

@contextmanager
def _default_db(url: str, size: int) -> Iterator[Any]:
    """A pool of `size` connections as `get_db()` for the block. Every lifecycle job holds two
    connections at once (its instance lock's transaction and its work), so jobs in parallel need a
    pool at least twice their number."""
    import shared.data as data
    from shared.data import Database

    db = Database(url, max_size=size)
    previous, data._db = data._db, db
    try:
        yield db
    finally:
        data._db = previous
        db.close()


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Expected warnings (retried Fly faults, region fallbacks) are not the benchmark's output."""
    import logging

    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)

def _settings(values: dict[str, str]) -> Any:
    from shared.config import overridden

    return overridden(values)


def _fly_settings(fly: Any, **extra: str) -> dict[str, str]:
    return {"FLY_API_BASE": fly.url, "FLY_PROXY_BASE": fly.proxy_url, "FLY_API_TOKEN": FLY_TOKEN, "FLY_ORG": "personal",
            "FLY_REGION": "iad", "FLY_FALLBACK_REGIONS": "ord,ewr,sjc", "LIFECYCLE_RETRY_BASE_S": "0.05",
            "LIFECYCLE_START_TIMEOUT_S": "30", "LIFECYCLE_READY_TIMEOUT_S": "30", **extra}


def _make_users_and_agents(tx: Any, tag: str, users: int, agents: int) -> tuple[list[str], list[str]]:
    creator = tx.sql("insert into auth.users (email) values (%(e)s) returning id",
                     {"e": f"bench-{tag}-creator@{EMAIL_DOMAIN}"}).fetchone()["id"]
    user_ids = [r["id"] for r in tx.sql(
        "insert into auth.users (email) select 'bench-' || %(tag)s || '-u' || n || '@' || %(d)s"
        " from generate_series(1, %(n)s) n returning id", {"tag": tag, "d": EMAIL_DOMAIN, "n": users}).fetchall()]
    agent_ids = [r["id"] for r in tx.sql(
        "insert into agents (creator_id, slug, name, category, status, published_at)"
        " select %(c)s, 'bench-' || %(tag)s || '-' || n, 'Bench ' || n, 'bench', 'published', now()"
        " from generate_series(1, %(n)s) n returning id", {"c": creator, "tag": tag, "n": agents}).fetchall()]
    return [str(u) for u in user_ids], [str(a) for a in agent_ids]


def _cleanup(db: Any, tag: str) -> str:
    from bench.environment import remove_bench_rows

    return remove_bench_rows(db, tag, (
        "delete from public.notifications where user_id in ({users})",
        "delete from vault.secrets where name in (select 'instance-gateway:' || id from public.agent_instances"
        " where user_id in ({users}))",
        "delete from procrastinate.procrastinate_jobs where lock in (select 'instance:' || id from"
        " public.agent_instances where user_id in ({users}))"))


# --- health-sweep -----------------------------------------------------------------------------------

MACHINE_CONFIG = {"image": "registry.fly.io/openagents-agent:bench",
                  "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 2048},
                  "services": [{"protocol": "tcp", "internal_port": 8080, "autostart": True, "autostop": "suspend"}]}


def _seed_machines(fly: Any, instance_ids: list[str], *, batch_size: int = 500, timeout: float = 60) -> list[str]:
    """Apps `oa-<id>` with one started machine each, made inside the emulator (no HTTP round trips),
    `batch_size` per call on its loop."""
    from shared.fly.config import INSTANCE_METADATA_KEY
    from shared.lifecycle.names import app_name

    machine_ids: list[str] = []
    for start in range(0, len(instance_ids), batch_size):
        batch = instance_ids[start:start + batch_size]

        def make(s: Any, batch: list[str] = batch) -> list[str]:
            out = []
            for iid in batch:
                s.create_app({"name": app_name(iid), "org_slug": "personal"})
                body = {"region": "iad", "name": "agent",
                        "config": {**MACHINE_CONFIG, "metadata": {INSTANCE_METADATA_KEY: iid}}}
                out.append(s.create_machine(app_name(iid), body).id)
            return out

        machine_ids += fly.call(make, timeout=timeout)
    return machine_ids


def _health_with_probes(scope: list[str] | None) -> Any:
    """The sweep, then the probe jobs it deferred (one per page) run here by a worker with 4 slots:
    the whole check in this process (`bench sweeps` spreads the probes over worker processes)."""
    import logging

    from shared.lifecycle.health import ProbeResult, health_check

    probes: list[ProbeResult] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "health probe":
                probes.append(ProbeResult(**getattr(record, "fields", {})))

    logger = logging.getLogger("openagents.lifecycle.health")
    handler, level = Collect(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    t = time.perf_counter()
    try:
        result = health_check(instance_ids=scope)
        _drain(600.0, 4, set())  # no job lock to wait on: one pass runs every probe job
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    for probe in probes:
        result.add(probe)
    result.seconds = round(time.perf_counter() - t, 3)
    return result


@benchmark("health-sweep", "one health-check sweep over 10,000 running instances (simulated Fly)")
def health_sweep(ctx: Context) -> Result:
    from devstack.emulators.fly import FlyEmulator
    from shared.lifecycle.names import app_name

    n = 10_000 if ctx.full else 300
    bdb = ctx.database()
    tag = uuid.uuid4().hex[:10]
    # The database in the settings too: the probe jobs run through the job queue.
    with FlyEmulator(mode="simulated", token=FLY_TOKEN) as fly, \
            _settings(_fly_settings(fly, DATABASE_URL=bdb.url, DATABASE_DIRECT_URL="")), bdb.as_default() as db:
        try:
            t = time.perf_counter()
            ids = [str(uuid.uuid4()) for _ in range(n)]
            machines = _seed_machines(fly, ids)
            with db.service() as tx:
                users, agents = _make_users_and_agents(tx, tag, users=max(1, n // 100), agents=100)
                tx.sql("insert into agent_instances (id, user_id, agent_id, status, provision_stage, fly_app,"
                       " fly_machine_id, fly_volume_id, region)"
                       " select i, (%(users)s::uuid[])[1 + (o - 1) / 100], (%(agents)s::uuid[])[1 + (o - 1) %% 100],"
                       " 'running', 'ready', a, m, null, 'iad'"
                       " from unnest(%(ids)s::uuid[], %(apps)s::text[], %(machines)s::text[])"
                       " with ordinality as x(i, a, m, o)",
                       {"users": users, "agents": agents, "ids": ids, "apps": [app_name(i) for i in ids],
                        "machines": machines})
            fly.call(lambda s: None)  # let the emulator's loop finish starting them
            started = fly.counts()["machines"].get("started", 0)
            print(f"seeded {n:,} instances and {started:,} started machines in {time.perf_counter() - t:.1f} s")
            scope = None if bdb.throwaway else ids  # a shared database holds other rows: sweep ours only
            result = _health_with_probes(scope)
        finally:
            if not bdb.throwaway:
                print(_cleanup(db, tag))
    per = result.seconds / max(1, result.probed) * 1000
    print(f"sweep: {result.instances:,} instances, {result.fly_machines:,} machines listed, {result.probed:,} probed,"
          f" {result.healthy:,} healthy, {result.synced} synced, {result.restarted} restarted in {result.seconds:.2f} s"
          f" ({per:.2f} ms per instance)")
    print(f"sweep time {result.seconds:.2f} s  goal {SWEEP_GOAL}  {verdict(SWEEP_GOAL, result.seconds)}")
    return Result("health-sweep", SWEEP_GOAL, value=result.seconds, unit="s")


# --- hire -------------------------------------------------------------------------------------------

class FlyClock:
    """Time spent waiting on Fly, per thread: Machines API calls (retries and backoff included), waiting
    for `started`, waiting for the bridge to be ready. Nested waits count once."""

    def __init__(self) -> None:
        self._local = threading.local()
        self.seconds = 0.0
        self._lock = threading.Lock()

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._local, "depth", 0)
            self._local.depth = depth + 1
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._local.depth = depth
                if depth == 0:
                    with self._lock:
                        self.seconds += time.perf_counter() - t

        return timed

    @contextmanager
    def installed(self) -> Iterator[FlyClock]:
        from shared.fly import _http
        from shared.lifecycle import machines

        saved = (_http.FlyHTTP.run, machines.ensure_started, machines.wait_ready)
        _http.FlyHTTP.run = self.wrap(_http.FlyHTTP.run)  # type: ignore[method-assign]
        machines.ensure_started = self.wrap(machines.ensure_started)  # type: ignore[assignment]
        machines.wait_ready = self.wrap(machines.wait_ready)  # type: ignore[assignment]
        try:
            yield self
        finally:
            _http.FlyHTTP.run, machines.ensure_started, machines.wait_ready = saved  # type: ignore[method-assign]


def _drain(timeout: float, concurrency: int, locks: set[str]) -> None:
    import asyncio

    from jobs.app import app
    from jobs.worker import size_executor
    from shared.data import get_db

    app.perform_import_paths()
    periodic = dict(app.periodic_registry.periodic_tasks)
    app.periodic_registry.periodic_tasks.clear()  # sweeps are not what this measures
    deadline = time.monotonic() + timeout

    async def once() -> None:
        size_executor(concurrency)  # as `openagents worker` does: `concurrency` jobs really at once
        async with app.open_async():
            await app.run_worker_async(wait=False, install_signal_handlers=False, queues=["lifecycle"],
                                       concurrency=concurrency, listen_notify=False, delete_jobs="successful")

    try:
        while True:
            asyncio.run(once())
            with get_db().service() as tx:
                left = tx.sql("select count(*) as n from procrastinate.procrastinate_jobs where lock = any(%(l)s)"
                              " and status in ('todo', 'doing')", {"l": list(locks)}).fetchone()["n"]
            if not left or time.monotonic() > deadline:
                return
            time.sleep(0.05)
    finally:
        app.periodic_registry.periodic_tasks.update(periodic)


def _p(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] if s else 0.0


@benchmark("hire", "hire → running: our overhead vs emulated Fly latency; hires under 20% Fly faults")
def hire(ctx: Context) -> Result:
    from devstack.emulators.fly import FlyEmulator
    from shared.auth import User
    from shared.lifecycle.instances import hire as hire_instance
    from shared.lifecycle.models import HireRequest

    sequential = 30 if ctx.full else 5
    faulted = 100 if ctx.full else 12
    bdb = ctx.database()
    tag = uuid.uuid4().hex[:10]
    clock = FlyClock()
    first_faulted_user = (sequential + 9) // 10
    with FlyEmulator(mode="simulated", token=FLY_TOKEN) as fly, \
            _settings(_fly_settings(fly, DATABASE_URL=bdb.url, DATABASE_DIRECT_URL="")), \
            _default_db(bdb.url, 2 * PARALLEL_JOBS + 4) as db, _quiet("shared.fly", "openagents.lifecycle"):
        try:
            with db.service() as tx:
                users, _ = _make_users_and_agents(tx, tag, users=first_faulted_user + (faulted + 9) // 10, agents=10)
                slugs = [r["slug"] for r in tx.sql("select slug from agents where slug like %(p)s order by slug",
                                                   {"p": f"bench-{tag}-%"}).fetchall()]

            def as_user(uid: str) -> User:
                return User(uid, None, {"sub": uid, "role": "authenticated", "aud": "authenticated"})

            # Part one: one hire at a time, no faults.
            api_ms, job_ms, fly_ms, ours_ms = [], [], [], []
            # The job's own time is measured inside the worker: starting a worker per hire (as `_drain`
            # does here) is not something production pays, a long-running worker picks jobs up at once.
            job_clock = FlyClock()
            from shared.lifecycle import provision as provision_module

            real_provision = provision_module.provision
            provision_module.provision = job_clock.wrap(real_provision)  # type: ignore[assignment]
            with clock.installed():
                for i in range(sequential):  # one live instance per (user, agent): ten agents per user
                    user = as_user(users[i // len(slugs)])
                    t0 = time.perf_counter()
                    instance, _ = hire_instance(user, HireRequest(agent=slugs[i % len(slugs)]))
                    t1 = time.perf_counter()
                    before, job_before = clock.seconds, job_clock.seconds
                    _drain(60, 1, {f"instance:{instance.id}"})
                    fly_s, job_s = clock.seconds - before, job_clock.seconds - job_before
                    api_ms.append((t1 - t0) * 1000)
                    job_ms.append(job_s * 1000)
                    fly_ms.append(fly_s * 1000)
                    ours_ms.append((t1 - t0 + job_s - fly_s) * 1000)
            provision_module.provision = real_provision  # type: ignore[assignment]
            with db.service() as tx:
                running = tx.sql("select count(*) as n from agent_instances where user_id = any(%(u)s::uuid[])"
                                 " and status = 'running'", {"u": users[:first_faulted_user]}).fetchone()["n"]
            print(f"one at a time, no faults: {sequential} hires, {running} running")
            print(f"  hire → running  p50 {statistics.median([a + b for a, b in zip(api_ms, job_ms, strict=True)]):.0f} ms"
                  " (API request + provision job; queue pickup not included)")
            print(f"  emulated Fly    p50 {statistics.median(fly_ms):.0f} ms (API calls, wait for started, bridge ready)")
            print(f"  ours            p50 {statistics.median(ours_ms):.0f} ms, p95 {_p(ours_ms, 0.95):.0f} ms"
                  f" (API request p50 {statistics.median(api_ms):.1f} ms + the job's own work: transactions, lock,"
                  " Vault, bookkeeping)")

            # Part two: many at once under 20% faults.
            fly.set_faults(reset=True, **_twenty_percent())
            t = time.perf_counter()
            ids: list[str] = []
            for i in range(faulted):
                user = as_user(users[first_faulted_user + i // len(slugs)])
                instance, _ = hire_instance(user, HireRequest(agent=slugs[i % len(slugs)]))
                ids.append(str(instance.id))
            _drain(600, PARALLEL_JOBS, {f"instance:{i}" for i in ids})
            elapsed = time.perf_counter() - t
            fired = fly.faults.snapshot()["fired"]
            fly.clear_faults()
            settled, orphans, reasons = _settlement(db, fly, ids)
            print(f"{faulted} hires at once ({PARALLEL_JOBS} jobs in parallel) under 20% Fly faults: {elapsed:.1f} s;"
                  f" faults fired {dict((k, v) for k, v in fired.items() if v)}")
            print(f"  running {settled['running']}, error {settled['error']}, unsettled {settled['other']}"
                  f"  goal unsettled 0  {'ok' if settled['other'] == 0 else 'MISSED'}")
            for reason in sorted(set(reasons))[:5]:
                print(f"  error: {reason}")
            print(f"  orphaned apps/volumes/machines on Fly: {orphans}  goal 0  {'ok' if orphans == 0 else 'MISSED'}")
        finally:
            if not bdb.throwaway:
                print(_cleanup(db, tag))
    ours = statistics.median(ours_ms)
    print(f"our overhead per hire p50 {ours:.0f} ms  goal {HIRE_GOAL}  {verdict(HIRE_GOAL, ours)}")
    return Result("hire", HIRE_GOAL, value=ours, unit="ms")


def _twenty_percent() -> dict[str, Any]:
    # The same mix as tests/integration/lifecycle/faults.py (kept here so the benchmark needs no tests).
    return {
        "seed": 5,
        "rate_limit": {"probability": 0.07, "retry_after": 0.05},
        "server_error": {"probability": 0.07, "status": 503},
        "timeout": {"probability": 0.06, "perform": 0.5},
        "capacity": {"probability": 0.2, "ops": ["create_machine", "create_volume"]},
        "slow_start": {"probability": 0.2, "delay_s": 0.3},
        "crash": {"probability": 0.1, "after_s": 0.05},
    }


def _settlement(db: Any, fly: Any, ids: list[str]) -> tuple[dict[str, int], int, list[str]]:
    from shared.lifecycle.names import app_name

    with db.service() as tx:
        rows = tx.sql("select id, status::text as status, fly_machine_id, fly_volume_id, error_message"
                      " from agent_instances where id = any(%(i)s::uuid[])", {"i": ids}).fetchall()
    settled = {"running": 0, "error": 0, "other": 0}
    orphans = 0
    reasons = []
    for r in rows:
        kind = r["status"] if r["status"] in ("running", "error") else "other"
        settled[kind] += 1
        name = app_name(str(r["id"]))

        def look(s: Any, name: str = name) -> tuple[bool, list[str], list[str]]:
            app = s.apps.get(name)
            return (app is not None, [m.id for m in app.live_machines()] if app else [], list(app.volumes) if app else [])

        has_app, machines, volumes = fly.call(look)
        if r["status"] == "running":
            orphans += len([m for m in machines if m != r["fly_machine_id"]])
            orphans += len([v for v in volumes if v != r["fly_volume_id"]])
        elif r["status"] == "error":
            orphans += int(has_app) + len(machines) + len(volumes)
            reasons.append(r["error_message"] or "")
    return settled, orphans, reasons

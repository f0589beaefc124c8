"""`sweeps`: the three lifecycle sweeps at 1,000 / 10,000 / 100,000 hired agents in the Fly emulator's
simulated mode (ARCHITECTURE §4 and §7; issue 14 item 4).

For each size a fleet is made in bulk: the rows with one `INSERT … SELECT generate_series`, the apps
and machines inside the emulator through its state hook (no HTTP). The world has the drift each sweep
exists for: 10% of the machines Fly suspended on its own (the health check syncs them), 0.5% orphan
apps whose instance does not exist and 0.5% live apps holding an extra machine (reconcile deletes
both), 10% of the instances idle past their plan's threshold (idle shutdown stops them). Then each
sweep runs as its job runs it, the real code against the emulator:

    health check    every 5 min   Fly's machine list in pages and the status sync (the sweep, here),
                                  then a `/health` probe of every started machine through the proxy
                                  (HEALTH_CONCURRENCY at once per job), in the `health_probe` jobs the
                                  sweep defers per page, run by W `openagents worker`-style processes
    reconcile       every 5 min   every app and machine of the org against the rows, repairs
    idle shutdown   hourly        the candidates query, a `stop_instance` job deferred per idle
                                  instance, and those jobs drained by a worker (STOP_CONCURRENCY slots)

Each prints seconds per sweep and per 1,000 instances, the worker slots it needs to finish within its
period, the Machines API calls it made (counted by the emulator, by operation) against Fly's
published rate limits, and the time spent in our database calls (statement + result transfer, client
side; Postgres here is the local cluster). The headline is the slowest sweep's share of its period at
the largest size (goal < 1: every sweep fits).

Sizes: `BENCH_SWEEP_SIZES` (e.g. `1000,10000`), else 1,000 / 10,000 / 100,000 (full) or 200 (quick);
`BENCH_SWEEPS` (e.g. `health`) runs only some of the three.
Reconcile compares the whole database with the whole Fly org, so it runs only on a database of its
own (the throwaway cluster, i.e. `DATABASE_URL` unset); on a shared one it is skipped and said so.
The emulator, the sweeps and the idle stops' worker run in this process, so figures include the
emulator's own CPU on the same cores. The health probes run in worker processes of their own
(`BENCH_HEALTH_WORKERS`, e.g. `1,2`: one health sweep per count, so the ratio comes from one run;
default 2, BENCH_HEALTH_SLOTS jobs at once each): processes, not threads, since probing is CPU-bound
Python. They run the real worker (`jobs.worker.run`, lifecycle queue) without its periodic tasks, so
no scheduled sweep fires in the middle of a measurement.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.lifecycle import (
    FLY_TOKEN,
    MACHINE_CONFIG,
    _cleanup,
    _default_db,
    _fly_settings,
    _make_users_and_agents,
    _quiet,
    _seed_machines,
    _settings,
)
from bench.registry import Context, Goal, Result, benchmark, verdict

GOAL = Goal("<", 1)  # the slowest sweep's seconds ÷ its period, at the largest size
PERIODS = {"health": 300.0, "reconcile": 300.0, "idle": 3600.0}
STOP_CONCURRENCY = 8
HEALTH_SLOTS = int(os.environ.get("BENCH_HEALTH_SLOTS", "2"))  # jobs at once per worker process
SUSPENDED_SHARE = 0.10
IDLE_SHARE = 0.10
DRIFT_SHARE = 0.005

# Fly's published Machines API limits (docs/capacity.md has the sources): per action and per machine
# (or app), 1 request/s sustained with bursts to 3; `get_machine` 5/s with bursts to 10. Listing the
# org's machines or apps is one action on one org, so those calls share one bucket per sweep.
FLY_RATE = {"default": (1.0, 3.0), "get_machine": (5.0, 10.0)}
ORG_WIDE = {"list_org_machines", "list_apps"}


def _sizes(full: bool) -> list[int]:
    raw = os.environ.get("BENCH_SWEEP_SIZES", "").strip()
    if raw:
        return [int(x.replace("_", "")) for x in raw.split(",") if x.strip()]
    return [1_000, 10_000, 100_000] if full else [200]


def _chosen() -> set[str]:
    """`BENCH_SWEEPS` (e.g. `health`) runs only those; all three by default."""
    raw = os.environ.get("BENCH_SWEEPS", "").strip()
    picked = {x.strip() for x in raw.split(",") if x.strip()} if raw else set(PERIODS)
    unknown = picked - set(PERIODS)
    if unknown:
        raise ValueError(f"BENCH_SWEEPS: unknown sweeps {sorted(unknown)}; choose from {sorted(PERIODS)}")
    return picked


def _health_workers() -> list[int]:
    raw = os.environ.get("BENCH_HEALTH_WORKERS", "").strip()
    return [int(x) for x in raw.split(",") if x.strip()] if raw else [2]


# --- measuring ----------------------------------------------------------------------------------------

class DbClock:
    """Wall time inside our statements (`Tx._run`: execute + the rows coming back), and their number."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.statements = 0
        self.cpu_seconds = 0.0  # this process's CPU over the block (sweep, worker and emulator threads)
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator[DbClock]:
        from shared.data import Tx

        real = Tx._run

        def timed(tx: Any, sql: str, params: Any) -> Any:
            t = time.perf_counter()
            try:
                return real(tx, sql, params)
            finally:
                with self._lock:
                    self.seconds += time.perf_counter() - t
                    self.statements += 1

        Tx._run = timed  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            Tx._run = real  # type: ignore[method-assign]


@dataclass
class Sweep:
    name: str
    size: int
    seconds: float
    db_seconds: float
    statements: int
    calls: dict[str, int]
    slots: int  # worker slots it ran with
    detail: str
    cpu_seconds: float
    job_seconds: float = 0.0  # per deferred job (idle stops), for the slots needed
    jobs: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def period(self) -> float:
        return PERIODS[self.name]

    @property
    def per_1000(self) -> float:
        return self.seconds / max(1, self.size) * 1000

    @property
    def share(self) -> float:
        return self.seconds / self.period

    def slots_needed(self) -> int:
        """One slot runs the sweep itself; deferred jobs need their total time over the period."""
        if "processes_needed" in self.extra:
            return int(self.extra["processes_needed"])
        if not self.jobs:
            return 1
        return max(1, math.ceil(self.jobs * self.job_seconds / self.period))

    def rate_floor_s(self) -> float:
        """The least time Fly's limits allow for these calls: org-wide calls share one bucket; calls on
        distinct machines each have their own (one call each here), so they set no floor."""
        floor = 0.0
        for op, n in self.calls.items():
            if op in ORG_WIDE:
                rate, burst = FLY_RATE.get(op, FLY_RATE["default"])
                floor = max(floor, max(0.0, n - burst) / rate)
        return floor


def _measured(fly: Any, fn: Callable[[], Any]) -> tuple[Any, float, DbClock, dict[str, int]]:
    fly.api_calls(reset=True)
    clock = DbClock()
    with clock.installed():
        t, cpu = time.perf_counter(), time.process_time()
        out = fn()
        seconds = time.perf_counter() - t
        clock.cpu_seconds = time.process_time() - cpu
    calls = fly.api_calls(reset=True)
    return out, seconds, clock, calls


# --- the fleet ----------------------------------------------------------------------------------------

def _drift(fly: Any, instance_ids: list[str], machine_ids: list[str]) -> dict[str, int]:
    """Fly-side drift: machines suspended by Fly's autostop, orphan apps, extra machines."""
    from shared.fly.config import INSTANCE_METADATA_KEY
    from shared.lifecycle.names import app_name

    n = len(instance_ids)
    every = max(1, round(1 / SUSPENDED_SHARE))
    suspend = machine_ids[::every]
    drift = max(1, round(n * DRIFT_SHARE))
    orphans = [str(uuid.uuid4()) for _ in range(drift)]
    extra_in = instance_ids[1::max(1, n // drift)][:drift]

    def apply(s: Any) -> None:
        for mid in suspend:
            s.suspend_machine(s.machines[mid], None, source="autostop")
        for iid in orphans:
            s.create_app({"name": app_name(iid), "org_slug": "personal"})
            s.create_machine(app_name(iid), {"region": "iad", "name": "agent",
                                             "config": {**MACHINE_CONFIG, "metadata": {INSTANCE_METADATA_KEY: iid}}})
        for iid in extra_in:
            s.create_machine(app_name(iid), {"region": "iad", "name": "stray",
                                             "config": {**MACHINE_CONFIG, "metadata": {INSTANCE_METADATA_KEY: iid}}})

    fly.call(apply, timeout=120)
    fly.call(lambda s: None)  # let the loop finish the transitions it started
    return {"suspended": len(suspend), "orphan_apps": len(orphans), "extra_machines": len(extra_in)}


def _seed(db: Any, fly: Any, tag: str, n: int) -> tuple[list[str], dict[str, int], float]:
    t = time.perf_counter()
    with db.service() as tx:
        users, agents = _make_users_and_agents(tx, tag, users=max(1, math.ceil(n / 100)), agents=100)
        # One live instance per (user, agent): instance n is user n/100's hire of agent n%100. Every
        # 1/IDLE_SHARE-th one was last active three hours ago (past the trial's 2 h threshold).
        ids = [str(r["id"]) for r in tx.sql(
            "with fleet as (select gen_random_uuid() as id, n from generate_series(1, %(n)s) n)"
            " insert into agent_instances (id, user_id, agent_id, status, provision_stage, fly_app, region,"
            "  last_active_at)"
            " select f.id, (%(users)s::uuid[])[1 + (f.n - 1) / 100], (%(agents)s::uuid[])[1 + (f.n - 1) %% 100],"
            "  'running', 'ready', 'oa-' || f.id, 'iad',"
            "  case when f.n %% %(every)s = 0 then now() - interval '3 hours' else now() end"
            " from fleet f order by f.n returning id",
            {"n": n, "users": users, "agents": agents, "every": max(1, round(1 / IDLE_SHARE))}).fetchall()]
    machines = _seed_machines(fly, ids, batch_size=2000, timeout=120)
    with db.service() as tx:
        tx.sql("update agent_instances i set fly_machine_id = x.m from unnest(%(ids)s::uuid[], %(m)s::text[]) x(i, m)"
               " where i.id = x.i", {"ids": ids, "m": machines})
    drift = _drift(fly, ids, machines)
    return ids, drift, time.perf_counter() - t


# --- the sweeps ---------------------------------------------------------------------------------------

def probe_worker(concurrency: int) -> None:
    """A worker process of the health bench: the real worker on the lifecycle queue, minus its
    periodic tasks (a fresh worker defers the last tick of each at once: a sweep mid-measurement)."""
    from jobs.app import app
    from jobs.worker import run

    app.perform_import_paths()
    app.periodic_registry.periodic_tasks.clear()
    run(concurrency, queues=["lifecycle"])


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float:
        """user + system CPU of the process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _workers(count: int, env: dict[str, str], log_dir: Path) -> Iterator[list[_Worker]]:
    root = str(Path(__file__).resolve().parents[1])
    started: list[_Worker] = []
    try:
        for k in range(count):
            log = log_dir / f"health-worker-{k}.log"
            out = open(log, "ab")  # noqa: SIM115 - handed to the child, closed with it
            proc = subprocess.Popen([sys.executable, "-c", f"from bench.sweeps import probe_worker; probe_worker({HEALTH_SLOTS})"],
                                    env={**os.environ, **env, "LOG_LEVEL": "INFO"}, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=root)
            out.close()
            started.append(_Worker(proc, log))
        deadline = time.monotonic() + 120
        for w in started:  # ready once it says so (imports done, pool opening)
            while b"worker starting" not in w.log.read_bytes():
                if w.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"health worker did not start: {w.log.read_text()[-2000:]}")
                time.sleep(0.1)
        time.sleep(1.0)
        yield started
    finally:
        for w in started:
            if w.proc.poll() is None:
                w.proc.terminate()
        for w in started:
            try:
                w.proc.wait(30)
            except subprocess.TimeoutExpired:
                w.proc.kill()


def _probe_results(workers: list[_Worker], offsets: list[int]) -> list[dict[str, Any]]:
    out = []
    for w, at in zip(workers, offsets, strict=True):
        with open(w.log, "rb") as f:
            f.seek(at)
            for line in f:
                if b'"health probe"' in line:
                    out.append(json.loads(line))
    return out


_health_runs = itertools.count()


def _probes_left(db: Any) -> int:
    with db.service() as tx:
        return int(tx.sql("select count(*) as n from procrastinate.procrastinate_jobs where task_name = 'health_probe'"
                          " and status in ('todo', 'doing')").fetchone()["n"])


def _health(db: Any, fly: Any, n: int, scope: list[str] | None, workers: list[_Worker]) -> Sweep:
    from shared.config import get_settings
    from shared.lifecycle.health import ProbeResult, health_check

    offsets = [w.log.stat().st_size for w in workers]
    cpu_before = [w.cpu_seconds() for w in workers]
    # A period of its own for each run: the sweep defers each page's probes once per period.
    timestamp = time.time() + PERIODS["health"] * next(_health_runs)
    r, sweep_s, clock, calls = _measured(fly, lambda: health_check(instance_ids=scope, timestamp=timestamp))
    t, cpu = time.perf_counter(), time.process_time()
    deadline = time.monotonic() + 1800
    while _probes_left(db) and time.monotonic() < deadline:
        time.sleep(0.1)
    drain_s = time.perf_counter() - t
    here_cpu = clock.cpu_seconds + time.process_time() - cpu
    worker_cpu = sum(w.cpu_seconds() - c for w, c in zip(workers, cpu_before, strict=True))
    drain_calls = fly.api_calls(reset=True)
    for probe in _probe_results(workers, offsets):
        r.add(ProbeResult(**{k: v for k, v in probe.items() if k in ProbeResult.model_fields}))
    total_calls = {k: calls.get(k, 0) + drain_calls.get(k, 0) for k in {*calls, *drain_calls}}
    seconds = sweep_s + drain_s
    w = len(workers)
    # At the same pace per process, the processes a period needs: the drain's process-seconds over
    # what is left of the period after the sweep itself.
    needed = max(1, math.ceil(drain_s * w / max(1e-9, PERIODS["health"] - sweep_s)))
    detail = (f"{r.instances:,} instances, {r.fly_machines:,} machines listed in {r.pages} pages, {r.synced:,} synced;"
              f" {r.probe_jobs} probe jobs ({r.to_probe:,} machines) deferred in {sweep_s:.1f} s, drained in {drain_s:.1f} s"
              f" by {w} worker processes × {HEALTH_SLOTS} slots: {r.probed:,} probed"
              f" ({get_settings().HEALTH_CONCURRENCY} at once per job), {r.healthy:,} healthy, {r.restarted} restarted")
    extra = {"sweep_s": sweep_s, "drain_s": drain_s, "workers": w, "worker_cpu": worker_cpu, "here_cpu": here_cpu,
             "processes_needed": needed}
    return Sweep("health", n, seconds, clock.seconds, clock.statements, total_calls, w, detail,
                 here_cpu + worker_cpu, extra=extra)


def _reconcile(fly: Any, n: int) -> Sweep:
    from shared.lifecycle.reconcile import reconcile

    r, seconds, clock, calls = _measured(fly, reconcile)
    return Sweep("reconcile", n, seconds, clock.seconds, clock.statements, calls, 1,
                 f"{r.apps:,} apps, {r.orphan_apps_deleted} orphan apps and {r.orphan_machines_deleted} extra machines"
                 f" deleted, {r.marked_missing} marked missing, {r.busy} busy", clock.cpu_seconds)


def _idle(db_url: str, fly: Any, n: int, scope: list[str] | None, ids: list[str]) -> Sweep:
    from bench.lifecycle import _drain
    from shared.lifecycle.idle import idle_shutdown

    r, sweep_s, clock, calls = _measured(fly, lambda: idle_shutdown(instance_ids=scope))
    fly.api_calls(reset=True)
    drain_clock = DbClock()
    with _default_db(db_url, 2 * STOP_CONCURRENCY + 4), drain_clock.installed():
        t, cpu = time.perf_counter(), time.process_time()
        _drain(max(600.0, r.stops_deferred * 0.5), STOP_CONCURRENCY, {f"instance:{i}" for i in ids})
        drain_s = time.perf_counter() - t
        drain_cpu = time.process_time() - cpu
    drain_calls = fly.api_calls(reset=True)
    total_calls = {k: calls.get(k, 0) + drain_calls.get(k, 0) for k in {*calls, *drain_calls}}
    per_job = drain_s * STOP_CONCURRENCY / max(1, r.stops_deferred)
    return Sweep("idle", n, sweep_s + drain_s, clock.seconds + drain_clock.seconds,
                 clock.statements + drain_clock.statements, total_calls, STOP_CONCURRENCY,
                 f"{r.candidates:,} candidates, {r.stops_deferred:,} stops deferred in {sweep_s:.2f} s,"
                 f" drained in {drain_s:.1f} s by {STOP_CONCURRENCY} slots ({r.stops_deferred / max(drain_s, 1e-9):.0f} stops/s)",
                 clock.cpu_seconds + drain_cpu, job_seconds=per_job, jobs=r.stops_deferred, extra={"sweep_s": sweep_s, "drain_s": drain_s})


def _print(s: Sweep) -> None:
    calls = ", ".join(f"{op} {k:,}" for op, k in sorted(s.calls.items(), key=lambda kv: -kv[1]) if op != "proxy")
    probes = s.calls.get("proxy", 0)
    floor = s.rate_floor_s()
    print(f"  {s.name:<9} {s.seconds:8.2f} s  {s.per_1000:6.3f} s/1k  period {s.period:.0f} s"
          f" ({s.share * 100:5.1f}%)  goal < period  {verdict(Goal('<', s.period, 's'), s.seconds)}")
    print(f"            {s.detail}")
    print(f"            slots needed {s.slots_needed()} (ran with {s.slots});"
          f" database {s.db_seconds:.2f} s in {s.statements:,} statements (client side);"
          f" CPU {s.cpu_seconds:.2f} s ({s.cpu_seconds / max(1, s.size) * 1000:.3f} s/1k;"
          f" {'this process and the workers' if 'worker_cpu' in s.extra else 'sweep + emulator in this process'})")
    if "worker_cpu" in s.extra:
        w, wcpu = s.extra["workers"], s.extra["worker_cpu"]
        per_1k = wcpu / max(1, s.size) * 1000
        # Extrapolated, labelled: the probes' CPU spread over w idle cores, plus the sweep scaled linearly.
        at_100k = per_1k * 100 / w + s.extra["sweep_s"] / max(1, s.size) * 100_000
        print(f"            CPU: workers {wcpu:.2f} s ({per_1k:.3f} s/1k over {w} processes), this process"
              f" (sweep, emulator) {s.extra['here_cpu']:.2f} s; 100k extrapolated on {w} idle cores"
              f" ≈ {at_100k:.0f} s ({'fits' if at_100k < s.period else 'does not fit'} {s.period:.0f} s)")
    fits = floor < s.period
    print(f"            Fly Machines API: {calls or 'none'}; proxy requests {probes:,};"
          f" Fly's limits allow it in ≥ {floor:.0f} s: {'ok' if fits else 'MISSED'}")


@benchmark("sweeps", "health check, reconcile and idle shutdown at 1k/10k/100k instances (simulated Fly)")
def sweeps(ctx: Context) -> Result:
    from devstack.emulators.fly import FlyEmulator

    bdb = ctx.database()
    results: list[Sweep] = []
    sizes = _sizes(ctx.full)
    chosen = _chosen()
    print(f"sizes {', '.join(f'{n:,}' for n in sizes)}; drift: {SUSPENDED_SHARE:.0%} suspended by Fly,"
          f" {DRIFT_SHARE:.1%} orphan apps, {DRIFT_SHARE:.1%} extra machines, {IDLE_SHARE:.0%} idle past threshold")
    for n in sizes:
        tag = uuid.uuid4().hex[:10]
        with FlyEmulator(mode="simulated", token=FLY_TOKEN) as fly, \
                _settings(_fly_settings(fly, DATABASE_URL=bdb.url, DATABASE_DIRECT_URL="")), \
                bdb.as_default() as db, _quiet("shared.fly", "openagents.lifecycle", "openagents.jobs", "procrastinate"):
            try:
                ids, drift, seeded_s = _seed(db, fly, tag, n)
                with db.service() as tx:
                    size = tx.sql("select pg_total_relation_size('public.agent_instances') as b").fetchone()["b"]
                print(f"{n:,} instances: seeded in {seeded_s:.1f} s ({drift['suspended']:,} suspended by Fly,"
                      f" {drift['orphan_apps']} orphan apps, {drift['extra_machines']} extra machines);"
                      f" agent_instances with its indexes {size / 2**20:.1f} MiB ({size / n:.0f} bytes per instance)")
                scope = None if bdb.throwaway else ids  # a shared database holds other rows: sweep ours only
                batch = []
                if "health" in chosen:
                    env = _fly_settings(fly, DATABASE_URL=bdb.url, DATABASE_DIRECT_URL=bdb.url)
                    for count in _health_workers():
                        with tempfile.TemporaryDirectory() as logs, _workers(count, env, Path(logs)) as workers:
                            batch.append(_health(db, fly, n, scope, workers))
                if "reconcile" in chosen and bdb.throwaway:
                    batch.append(_reconcile(fly, n))
                elif "reconcile" in chosen:
                    print("  reconcile skipped: it compares the whole database with the org, so it needs a database"
                          " of its own (unset DATABASE_URL)")
                if "idle" in chosen:
                    batch.append(_idle(bdb.url, fly, n, scope, ids))
                for s in batch:
                    _print(s)
                results += batch
            finally:
                if not bdb.throwaway:
                    print(_cleanup(db, tag))
                else:
                    _truncate(db)
    _summary(results)
    largest = max(sizes)
    worst = max((s for s in results if s.size == largest), key=lambda s: s.share)
    print(f"slowest at {largest:,}: {worst.name} {worst.seconds:.1f} s of its {worst.period:.0f} s period"
          f" ({worst.share:.3f})  goal {GOAL}  {verdict(GOAL, worst.share)}")
    return Result("sweeps", GOAL, ratio=worst.share)


def _truncate(db: Any) -> None:
    """The throwaway cluster between sizes: the next size starts from an empty fleet."""
    with db.service() as tx:
        tx.sql("delete from procrastinate.procrastinate_jobs where lock like 'instance:%%'")
        tx.sql("delete from public.notifications")
        tx.sql("delete from public.agent_instances")
        tx.sql("delete from public.agents where slug like 'bench-%%'")
        tx.sql("delete from auth.users where email like %(p)s", {"p": "bench-%@bench.openagents.invalid"})


def _summary(results: list[Sweep]) -> None:
    """How cost grows: seconds per 1,000 instances across sizes, per sweep (flat = linear)."""
    print("cost per 1,000 instances by size (flat = grows linearly):")
    for name in PERIODS:
        row = [s for s in results if s.name == name]
        if row:
            cells = "  ".join(f"{s.size:>7,}: {s.per_1000:6.3f} s" for s in row)
            growth = row[-1].per_1000 / row[0].per_1000 if row[0].per_1000 else 0.0
            print(f"  {name:<9} {cells}   largest/smallest {growth:.2f}×")

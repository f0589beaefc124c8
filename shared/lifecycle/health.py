"""The health check (ARCHITECTURE §4, every 5 minutes; `health-sweep` benchmark: 10,000 in < 60 s).

The sweep (`health_check`, one job) reads Fly's view and syncs the rows; the probing, where the CPU
goes at scale, is spread over `health_probe` jobs (one per page of Fly's list) that any number of
worker processes run side by side. Fly's list stays one pass per sweep, whatever the worker count.

1. Fly's view first: the org's machines are listed in pages of 1,000 (one request per page, not one
   per machine), and each page is handled before the next is read, so what Fly said is fresh.
2. Sync: Fly suspends and stops machines on its own (autostop), so rows are brought in line with
   Fly's persistent states in one statement per page (`health_sync`), skipping any row a lifecycle
   job is working on (its lock is held) or that changed since it was read. The page's machines Fly
   reports `started` go to one `health_probe` job, deferred in the transaction that claims the page
   for this period (`health_claim_page`): a second sweep in the same period (the cron and the
   workers' schedule both firing, a retried sweep) defers no second probe of that page.
3. The probe job re-reads its instances and probes those still `running`, through the same route
   chat uses (Fly's proxy with `fly-force-instance-id`), at most HEALTH_CONCURRENCY at a time. The
   proxy starts any machine it is sent to, so a suspended or stopped machine is never probed: that
   is what keeps the check from waking them (and why a probe job older than a period is dropped:
   Fly's view it carries is stale). A failed probe is retried once.
4. A machine that failed both is restarted and its row counts a failure; at the third failure in a
   row it is stopped, the instance goes to `error` and its owner is notified. Any success resets the
   count. Restarts and stops take the instance's lock without waiting: an instance busy with another
   operation is left for the next sweep.

Machines Fly does not know are left to reconcile.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

from pydantic import BaseModel

from shared import jobs, logs
from shared.bridge.client import bridge_client
from shared.data import get_db
from shared.fly import FlyClient
from shared.fly.errors import FlyAPIError
from shared.lifecycle import machines, store
from shared.lifecycle.config import LifecycleConfig, fly_client, lifecycle_config
from shared.lifecycle.errors import InstanceBusy, MachineNotReady
from shared.lifecycle.locks import instance_lock
from shared.lifecycle.states import FLY_TO_STATUS, HEALTH_ERROR

log = logging.getLogger("openagents.lifecycle.health")

MAX_FAILURES = 3
PAGE = 1000
PERIOD_S = 300  # the sweep's schedule (shared.schedules: */5)
KEEP_PERIODS = 12  # page claims older than this many periods are forgotten
RETRY_DELAY_S = 0.5
FAILURE_WORKERS = 4  # each holds an instance lock connection plus one for its updates
T = TypeVar("T")


class Candidate(BaseModel):
    id: str
    user_id: str
    status: str
    fly_app: str
    fly_machine_id: str
    health_failures: int
    updated_at: object


class ProbeResult(BaseModel):
    """One `health_probe` job: a page's started machines."""
    probed: int = 0
    healthy: int = 0
    restarted: int = 0
    errored: int = 0
    busy: int = 0
    not_running: int = 0  # no longer `running` when the job ran: left alone
    stale: bool = False  # older than a period: dropped, the next sweep covers it
    seconds: float = 0.0


class SweepResult(BaseModel):
    """The sweep's own figures; the probe figures are the sum of its probe jobs' (`add`), 0 until then."""
    instances: int = 0
    fly_machines: int = 0
    synced: int = 0
    pages: int = 0
    probe_jobs: int = 0
    already_deferred: int = 0  # pages this period's probes had already been deferred for
    to_probe: int = 0  # started machines handed to probe jobs
    probed: int = 0
    healthy: int = 0
    restarted: int = 0
    errored: int = 0
    busy: int = 0
    unknown_to_fly: int = 0
    seconds: float = 0.0

    def add(self, probe: ProbeResult) -> None:
        self.probed += probe.probed
        self.healthy += probe.healthy
        self.restarted += probe.restarted
        self.errored += probe.errored
        self.busy += probe.busy


def _chunks(items: Iterable[T], n: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


def _candidates(instance_ids: list[str] | None) -> dict[str, Candidate]:
    with get_db().service() as tx:
        rows = tx.all("health_candidates", ids=instance_ids)
    out = {}
    for r in rows:
        c = Candidate(id=str(r["id"]), user_id=str(r["user_id"]), status=r["status"], fly_app=r["fly_app"],
                      fly_machine_id=r["fly_machine_id"], health_failures=r["health_failures"],
                      updated_at=r["updated_at"])
        out[c.fly_machine_id] = c
    return out


def _sync(pairs: list[tuple[Candidate, str]]) -> int:
    if not pairs:
        return 0
    with get_db().service() as tx:
        changed = tx.all("health_sync", ids=[c.id for c, _ in pairs], old=[c.status for c, _ in pairs],
                         new=[s for _, s in pairs], seen=[c.updated_at for c, _ in pairs])
    return len(changed)


def _scope(instance_ids: list[str] | None) -> str:
    """What a page number is a page of: the whole org, or one restricted sweep's instances."""
    if instance_ids is None:
        return "all"
    return hashlib.sha256(",".join(sorted(instance_ids)).encode()).hexdigest()[:16]


def _defer_probe(period: int, scope: str, page: int, targets: list[Candidate], listed_at: float) -> bool:
    """Claim (period, scope, page) and defer its probe job in one transaction; False if already claimed."""
    with get_db().service() as tx:
        if tx.scalar("health_claim_page", period=period, scope=scope, page=page) is None:
            return False
        jobs.defer(tx, jobs.HEALTH_PROBE, instance_ids=[c.id for c in targets], listed_at=listed_at)
    return True


def _probe_all(cfg: LifecycleConfig, targets: list[Candidate]) -> dict[str, bool]:
    """machine id → healthy: the bridge client's liveness probe (`GET /health` through the proxy),
    HEALTH_CONCURRENCY at a time, a failure retried once."""
    return bridge_client().alive_all([(c.fly_app, c.fly_machine_id) for c in targets],
                                     concurrency=cfg.health_concurrency, retry_delay_s=RETRY_DELAY_S)


def _on_failure(fly: FlyClient, cfg: LifecycleConfig, c: Candidate) -> str:
    """Count the failure; restart, or at the third stop and mark `error`."""
    try:
        with instance_lock(c.id, wait_s=0):
            with get_db().service() as tx:
                failures = tx.scalar("health_record_failure", id=c.id)
            if failures is None:
                return "moved"  # no longer running: nothing to judge
            if failures < MAX_FAILURES:
                try:
                    fly.restart(c.fly_app, c.fly_machine_id)
                except FlyAPIError as e:
                    logs.log(log, logging.WARNING, "restart after failed health check failed", instance_id=c.id,
                             error=str(e))
                return "restarted"
            try:
                machines.stop_and_wait(fly, c.fly_app, c.fly_machine_id, time.monotonic() + 30)
            except (MachineNotReady, FlyAPIError) as e:
                logs.log(log, logging.WARNING, "stop of an unhealthy machine failed", instance_id=c.id, error=str(e))
            message = (f"The agent failed its health check {failures} times in a row and was stopped. "
                       "Start or restart it to try again.")
            with get_db().service() as tx:
                if store.transition_in(tx, c.id, HEALTH_ERROR, error_message=message):
                    store.notify_in(tx, c.user_id, "instance_error", "Your agent stopped responding", message,
                                    instance_id=c.id)
            return "errored"
    except InstanceBusy:
        return "busy"


def health_check(*, instance_ids: list[str] | None = None, timestamp: float | None = None,
                 page_size: int = PAGE) -> SweepResult:
    """One sweep over every instance with a machine (or only `instance_ids`): list, sync, and defer a
    probe job per page. `timestamp` names the period (the schedule's tick; now when absent)."""
    started = time.perf_counter()
    period = int((time.time() if timestamp is None else timestamp) // PERIOD_S)
    scope = _scope(instance_ids)
    result = SweepResult()
    candidates = _candidates(instance_ids)
    result.instances = len(candidates)
    seen: set[str] = set()
    with fly_client() as fly:
        if candidates:
            for number, page in enumerate(_chunks(fly.list_org_machines(limit=page_size), page_size)):
                result.fly_machines += len(page)
                result.pages += 1
                listed_at = time.time()
                sync: list[tuple[Candidate, str]] = []
                probe: list[Candidate] = []
                for m in page:
                    c = candidates.get(m.id)
                    if c is None:
                        continue
                    seen.add(m.id)
                    status = FLY_TO_STATUS.get(m.state or "")
                    if status is None:
                        continue  # transient (starting, stopping, …): its operation decides
                    if status != c.status:
                        sync.append((c, status))
                    if m.state == "started":
                        probe.append(c)
                result.synced += _sync(sync)
                if probe:
                    if _defer_probe(period, scope, number, probe, listed_at):
                        result.probe_jobs += 1
                        result.to_probe += len(probe)
                    else:
                        result.already_deferred += 1
    with get_db().service() as tx:
        tx.execute("health_forget_pages", before=period - KEEP_PERIODS)
    result.unknown_to_fly = len(candidates) - len(seen)
    result.seconds = round(time.perf_counter() - started, 3)
    logs.log(log, logging.INFO, "health check", **result.model_dump())
    return result


def health_probe(*, instance_ids: list[str], listed_at: float) -> ProbeResult:
    """One probe job: probe the instances Fly listed `started` at `listed_at`, handle the failures."""
    started = time.perf_counter()
    result = ProbeResult()
    if time.time() - listed_at > PERIOD_S:
        result.stale = True
    else:
        cfg = lifecycle_config()
        current = _candidates(instance_ids)
        # Only rows still `running`: anything our own jobs suspended or stopped since the listing is
        # not probed, since the proxy would start it.
        targets = [c for c in current.values() if c.status == "running"]
        result.not_running = len(instance_ids) - len(targets)
        healthy = _probe_all(cfg, targets) if targets else {}
        result.probed = len(targets)
        ok = [c for c in targets if healthy.get(c.fly_machine_id)]
        result.healthy = len(ok)
        reset = [c.id for c in ok if c.health_failures > 0]
        if reset:
            with get_db().service() as tx:
                tx.execute("health_reset_failures", ids=reset)
        failed = [c for c in targets if not healthy.get(c.fly_machine_id)]
        if failed:
            with fly_client() as fly, ThreadPoolExecutor(FAILURE_WORKERS) as pool:
                outcomes = list(pool.map(lambda c: _on_failure(fly, cfg, c), failed))
            result.restarted = outcomes.count("restarted")
            result.errored = outcomes.count("errored")
            result.busy = outcomes.count("busy")
    result.seconds = round(time.perf_counter() - started, 3)
    logs.log(log, logging.INFO, "health probe", **result.model_dump())
    return result

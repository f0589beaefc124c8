"""The warm pool (ARCHITECTURE §4 "Warm pool"; §7: hire → first token < 2 s).

A unit is a whole instance made before anyone hires it: an app `oa-pool-<unit id>` on its own
network, a volume, a machine on the base image whose env holds the unit's own gateway token (kept in
Vault as `instance-gateway:pool-<unit id>`), started until the bridge is ready, then suspended.

    refill()          the `refill_warm_pool` job (every minute, and after every claim)
    claim(cfg, row)   the provision job's shortcut (see `provision.py`)
    claimed_unit_vanished(fly, row) / release_vanished(fly, row)
                      a claimed unit whose machine Fly no longer has is deleted, and the hire goes the
                      long way (a cold provision)
    enabled()         WARM_POOL_SIZE > 0: hires claim units only then (0 turns the pool off; the next
                      refill deletes what is left)

Building a unit runs the same Fly steps as the provision saga (`fly_steps.FlySteps`: app → volume →
machine, region fallback on capacity errors, adoption of what an interrupted attempt made), with the
unit's names and metadata and the ids recorded on the `warm_pool` row instead of an instance
(`UnitBuild`), then starts the machine, waits for the bridge, runs one warm-up turn through it (in a
session of its own, its model calls answered free by the LLM proxy: `warm_up.py`) and suspends it.
A build that fails in a retryable way stays `creating` and the next refill resumes it (until
STUCK_AFTER_S); one that cannot succeed is `failed`, and failed units are deleted (resources, token,
row).

The refill, under one pool-wide lock (procrastinate's job lock `warm-pool`, plus an advisory lock for
direct callers):
1. retires ready units made with another base image, memory size or skill signing key list (a unit
   built before a key rotation lacks the new key), and those beyond the target
   (newest first) — `ready → failed` with `for update skip locked`, so a unit a hire is claiming is
   never retired;
2. checks each ready unit's machine still exists on Fly (one GET each; a gone one is failed);
3. deletes failed units; drops `creating` ones beyond the need or stuck;
4. builds (resumes, then makes) units until `ready + being built = WARM_POOL_SIZE`, BUILD_WORKERS at a
   time.

Claiming is one SQL statement (`warm_pool_claim`): the instance's row is locked and must still be
`provisioning` with nothing made; the oldest ready unit (primary region first, same image and memory)
is taken with `for update skip locked`, so two concurrent hires never get the same unit; it becomes
`claimed` with the instance's id, and its app, machine, volume, region and token secret are written to
the instance — all or nothing. A refill is deferred in the same transaction. Nothing is renamed on
Fly: the saga's steps then adopt the machine (setting its `openagents_instance` metadata to the
instance id), resume it, wait for readiness and push the agent's bundle. If the claimed unit's
machine is gone from Fly (the emulator restarted with `make dev`; a lost host on Fly), the claim is
undone for good: what is left of the unit on Fly is deleted, then in one transaction its row and
gateway token go and the instance is back to `queued` with nothing made, so the saga provisions it
from scratch.

Reconcile leaves unclaimed units alone (they are the refill's), maps a claimed unit's app to its
instance through the row, and deletes pool apps no row knows. Destroying a claimed instance deletes its
app (the instance's `fly_app`) like any other; the row stays `claimed` as a record.

Known limits: a claimed machine's env still says `OPENAGENTS_INSTANCE_ID=pool-<unit id>` until the
next config update (nothing reads it); units are made at POOL_MEMORY_MB, so agents asking for another
size always take the saga.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel

from shared import jobs, logs
from shared.data import Tx, get_db
from shared.fly import FlyClient
from shared.fly.errors import FlyAPIError, FlyNotFound
from shared.lifecycle import gateway, machines, names, store
from shared.lifecycle.config import LifecycleConfig, fly_client, lifecycle_config
from shared.lifecycle.errors import reason_of, retryable
from shared.lifecycle.fly_steps import Build, FlySteps
from shared.lifecycle.locks import _run
from shared.lifecycle.warm_up import warm_up

log = logging.getLogger("openagents.lifecycle.warm_pool")

POOL_MEMORY_MB = 2048  # the default agent size (agents.memory_mb): what nearly every hire asks for
STUCK_AFTER_S = 900
BUILD_WORKERS = 4
_USABLE = ("suspended", "stopped", "started", "suspending", "stopping", "starting")
_VANISHED = ("destroyed", "destroying")


def target_size() -> int:
    from shared.config import get_settings

    return int(get_settings().WARM_POOL_SIZE)


def enabled() -> bool:
    return target_size() > 0


def defer_refill(tx: Tx) -> None:
    """One refill waiting at most (a queueing lock), one running at a time (the job lock)."""
    jobs.defer(tx, jobs.REFILL_WARM_POOL)


# --- claim ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Claimed:
    unit_id: str
    fly_app: str
    machine_id: str
    volume_id: str
    region: str


def claim(cfg: LifecycleConfig, row: store.InstanceRow) -> Claimed | None:
    """Attach a ready unit to the (provisioning, still empty) instance; None if none is ready."""
    with get_db().service() as tx:
        got = tx.one("warm_pool_claim", id=row.key, regions=cfg.regions, region=cfg.region, image=cfg.image,
                     memory_mb=machines.machine_memory(row.memory_mb))
        if got is None:
            return None
        defer_refill(tx)
    unit = Claimed(str(got["unit_id"]), got["fly_app"], got["fly_machine_id"], got["fly_volume_id"], got["region"])
    logs.log(log, logging.INFO, "warm-pool unit claimed", instance_id=row.key, unit_id=unit.unit_id,
             fly_app=unit.fly_app, region=unit.region)
    return unit


def claimed_unit_vanished(fly: FlyClient, row: store.InstanceRow) -> bool:
    """The (provisioning) instance runs on a claimed unit whose machine Fly no longer has.
    A Fly error other than "not found" says nothing: the saga meets it and retries as usual."""
    if row.status != "provisioning" or not row.fly_app or names.unit_of_app(row.fly_app) is None:
        return False
    if not row.fly_machine_id:
        return False  # the steps make a machine in the unit's app like in any other
    try:
        return machines.state_of(fly, row.fly_app, row.fly_machine_id) in _VANISHED
    except (FlyAPIError, httpx.HTTPError):
        return False


def release_vanished(fly: FlyClient, row: store.InstanceRow) -> store.InstanceRow:
    """Undo the claim of a vanished unit: what is left of it on Fly, its row and its token go; the
    instance is back to nothing made (stage `queued`). The row as it is now."""
    assert row.fly_app is not None
    try:  # an app without its machine may remain; a failure here is reconcile's (a pool app no row knows)
        machines.delete_everything(fly, row.fly_app, snapshot=False, deadline=time.monotonic() + 60)
    except (FlyAPIError, httpx.HTTPError) as e:
        logs.log(log, logging.WARNING, "vanished warm-pool unit not fully deleted", instance_id=row.key,
                 fly_app=row.fly_app, error=str(e)[:300])
    with get_db().service() as tx:
        dropped = tx.one("warm_pool_release_vanished", id=row.key, fly_app=row.fly_app)
        if dropped is not None and dropped["secret_id"] is not None:
            tx.execute("vault_delete_secret", id=str(dropped["secret_id"]))
    logs.log(log, logging.WARNING, "claimed warm-pool unit is gone from Fly.io; provisioning from scratch",
             instance_id=row.key, fly_app=row.fly_app, unit_id=str(dropped["unit_id"]) if dropped else None)
    fresh = store.load(row.key)
    return fresh if fresh is not None else row


# --- building a unit ------------------------------------------------------------------------------------

class UnitBuild:
    """The Fly steps for a pool unit: names from the unit id, ids recorded on its `warm_pool` row,
    `openagents_instance=pool-<unit id>` and `openagents_pool=<unit id>` metadata; then started until
    the bridge is ready, warmed up with one turn, and suspended."""

    def __init__(self, fly: FlyClient, cfg: LifecycleConfig, unit: dict[str, Any]) -> None:
        self.fly = fly
        self.cfg = cfg
        self.unit_id = str(unit["id"])
        # The row names the app when it is inserted, before it exists: `app_made` stays False.
        build = Build(app=names.pool_app_name(self.unit_id), network=names.pool_network_name(self.unit_id),
                      owner=f"pool-{self.unit_id}", memory_mb=int(unit.get("memory_mb") or POOL_MEMORY_MB),
                      log_fields={"unit_id": self.unit_id}, metadata={names.POOL_METADATA_KEY: self.unit_id},
                      machine_id=unit.get("fly_machine_id"), volume_id=unit.get("fly_volume_id"))
        self.steps = FlySteps(fly, cfg, build, _UnitLedger(self.unit_id))

    def run(self) -> None:
        token = gateway.ensure_unit_token(self.unit_id)
        self.steps.ensure_app()
        app = self.steps.build.app
        machine_id = self.steps.ensure_machine(token)
        machines.start_ready(self.fly, self.cfg, app, machine_id, token)
        warm_up(self.unit_id, app, machine_id, token, self.cfg.ready_timeout_s)
        machines.suspend_and_wait(self.fly, app, machine_id, time.monotonic() + self.cfg.start_timeout_s)
        with get_db().service() as tx:
            tx.execute("warm_pool_mark_ready", id=self.unit_id)


class _UnitLedger:
    """The steps' ids go on the unit's `warm_pool` row; units have no stage (their ids say how far a
    build got)."""

    def __init__(self, unit_id: str) -> None:
        self.unit_id = unit_id

    def app(self, fly_app: str) -> None:
        pass  # the row is named when inserted

    def volume(self, volume_id: str, region: str) -> None:
        with get_db().service() as tx:
            tx.execute("warm_pool_record_volume", id=self.unit_id, volume_id=volume_id, region=region)

    def machine(self, machine_id: str, region: str | None) -> None:
        with get_db().service() as tx:
            tx.execute("warm_pool_record_machine", id=self.unit_id, machine_id=machine_id, region=region)

    def stage(self, stage: str) -> None:
        pass


# --- refill ---------------------------------------------------------------------------------------------

class RefillResult(BaseModel):
    target: int = 0
    ready: int = 0
    built: int = 0
    pending: int = 0  # builds that will be resumed by the next refill
    failed: int = 0
    retired: int = 0
    deleted: int = 0
    busy: bool = False
    seconds: float = 0.0


@contextmanager
def _pool_lock() -> Iterator[bool]:
    """The pool-wide advisory lock (transaction-scoped, like the instance lock), tried once."""
    with get_db().connection() as conn:
        try:
            row = _run(conn, "warm_pool_lock").fetchone()  # type: ignore[attr-defined]
            yield bool(row["locked"])
        finally:
            conn.rollback()


def _mark_failed(units: list[dict[str, Any]], reason: str) -> list[dict[str, Any]]:
    """Those of `units` now `failed` (a unit claimed meanwhile is not)."""
    if not units:
        return []
    with get_db().service() as tx:
        done = {str(r["id"]) for r in tx.all("warm_pool_mark_failed", ids=[str(u["id"]) for u in units],
                                              reason=reason[:500])}
    return [u for u in units if str(u["id"]) in done]


def _delete(fly: FlyClient, unit: dict[str, Any]) -> bool:
    """Delete a failed unit: its app with all it holds, its token, its row."""
    try:
        machines.delete_everything(fly, unit["fly_app"], snapshot=False, deadline=time.monotonic() + 60)
    except (FlyAPIError, httpx.HTTPError) as e:
        logs.log(log, logging.WARNING, "warm-pool unit not deleted yet", unit_id=str(unit["id"]), error=str(e)[:300])
        return False
    secret = unit.get("gateway_token_secret_id")
    if secret is None:  # a build may have made it after this dict was read
        with get_db().service() as tx:
            fresh = tx.one("warm_pool_unit", id=str(unit["id"]))
        secret = fresh["gateway_token_secret_id"] if fresh else None
    gateway.delete_token(str(secret) if secret else None)
    with get_db().service() as tx:
        tx.execute("warm_pool_delete", id=str(unit["id"]))
    return True


def _broken(fly: FlyClient, unit: dict[str, Any]) -> bool:
    """A ready unit whose machine Fly no longer has (or has destroyed) cannot be handed out."""
    try:
        state = fly.get_machine(unit["fly_app"], unit["fly_machine_id"]).state or ""
    except FlyNotFound:
        return True
    return state not in _USABLE


def keys_digest(cfg: LifecycleConfig) -> str:
    """A digest of the signing public keys a machine built now gets: a unit built with another list
    misses a rotated-in key (its skills would fail to verify there), so the refill retires it."""
    import hashlib

    return hashlib.sha256((machines.signing_public_keys(cfg) or "").encode()).hexdigest()


def _insert(cfg: LifecycleConfig, digest: str) -> dict[str, Any]:
    unit_id = str(uuid.uuid4())
    unit = {"id": unit_id, "fly_app": names.pool_app_name(unit_id), "fly_machine_id": None, "fly_volume_id": None,
            "memory_mb": POOL_MEMORY_MB, "gateway_token_secret_id": None}
    with get_db().service() as tx:  # the row exists before anything on Fly, so reconcile never sees a stray app
        tx.scalar("warm_pool_insert", id=unit_id, fly_app=unit["fly_app"], region=cfg.region, image=cfg.image,
                  memory_mb=POOL_MEMORY_MB, keys_digest=digest)
    return unit


def _build(fly: FlyClient, cfg: LifecycleConfig, unit: dict[str, Any]) -> str:
    """'ready', 'pending' (resumed next time) or 'failed' (and deleted)."""
    try:
        UnitBuild(fly, cfg, unit).run()
        return "ready"
    except Exception as exc:
        if retryable(exc):
            logs.log(log, logging.INFO, "warm-pool unit build will resume", unit_id=str(unit["id"]),
                     error=str(exc)[:300])
            return "pending"
        if not isinstance(exc, FlyAPIError | httpx.HTTPError):
            log.exception("warm-pool unit build crashed", extra={"fields": {"unit_id": str(unit["id"])}})
        for failed in _mark_failed([unit], f"build failed: {reason_of(exc)}"):
            _delete(fly, failed)
        return "failed"


def refill(target: int | None = None) -> RefillResult:
    """Bring the pool to `target` ready units (default WARM_POOL_SIZE); see the module docstring."""
    started = time.perf_counter()
    cfg = lifecycle_config()
    size = target_size() if target is None else max(0, int(target))
    result = RefillResult(target=size)
    with _pool_lock() as locked:
        if not locked:
            result.busy = True
            return result
        memory = machines.machine_memory(POOL_MEMORY_MB)
        digest = keys_digest(cfg)
        with get_db().service() as tx:
            retired = tx.all("warm_pool_retire_stale", image=cfg.image, memory_mb=memory, keys_digest=digest)
            retired += tx.all("warm_pool_retire_surplus", target=size)
            units = tx.all("warm_pool_units")
        result.retired = len(retired)
        ready = [u for u in units if u["status"] == "ready"]
        creating = [u for u in units if u["status"] == "creating"]
        doomed = [u for u in units if u["status"] == "failed"]  # retired now, or not yet deleted
        need = max(0, size - len(ready))
        resume = [u for u in creating if float(u["age_s"]) < STUCK_AFTER_S][:need]
        abandoned = _mark_failed([u for u in creating if u not in resume], "abandoned: stuck, or no longer needed")
        result.failed = len(abandoned)
        doomed += abandoned
        if ready or doomed or resume or need:
            with fly_client() as fly:
                lost = _mark_failed([u for u in ready if _broken(fly, u)], "its machine is gone from Fly.io")
                ready = [u for u in ready if u not in lost]
                result.failed += len(lost)
                doomed += lost
                result.deleted = sum(1 for u in doomed if _delete(fly, u))
                builds = resume + [_insert(cfg, digest) for _ in range(max(0, size - len(ready) - len(resume)))]
                if builds:
                    with ThreadPoolExecutor(min(BUILD_WORKERS, len(builds))) as pool:
                        outcomes = list(pool.map(lambda u: _build(fly, cfg, u), builds))
                    result.built = outcomes.count("ready")
                    result.pending = outcomes.count("pending")
                    result.failed += outcomes.count("failed")
        result.ready = len(ready) + result.built
    result.seconds = round(time.perf_counter() - started, 3)
    logs.log(log, logging.INFO, "warm pool refill", **result.model_dump())
    return result


def drain_pool() -> RefillResult:
    """Delete every unclaimed unit (refill to 0): for shutting the pool down by hand, and tests."""
    return refill(0)

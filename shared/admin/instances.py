"""Instances for operators: the stuck ones, force-destroy with Fly cleanup, and orphaned Fly apps."""

from __future__ import annotations

import time
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from shared.admin import AdminError, audited
from shared.data import get_db
from shared.lifecycle import gateway, machines, names, store
from shared.lifecycle.config import fly_client
from shared.lifecycle.errors import InstanceBusy
from shared.lifecycle.locks import instance_lock

# One rule for "owns nothing on Fly", shared with the reconcile sweep.
from shared.lifecycle.reconcile import _owns_nothing


class StuckInstance(BaseModel):
    id: UUID
    user_id: UUID
    email: str | None
    status: str
    provision_stage: str
    fly_app: str | None
    error_message: str | None
    updated_at: datetime
    stuck_s: float
    pending_jobs: int


def stuck(minutes: float, *, status: str | None = None, stage: str | None = None) -> list[StuckInstance]:
    """Instances provisioning (at any or the given stage) or destroying, unchanged for `minutes`."""
    with get_db().service() as tx:
        rows = [StuckInstance.model_validate(r)
                for r in tx.all("admin_stuck_instances", after_s=minutes * 60, status=status, stage=stage)]
        audited(tx, None, "stuck_listed", None, minutes=minutes, status=status, stage=stage, found=len(rows))
    return rows


class ForceDestroyed(BaseModel):
    instance_id: str
    was: str
    apps_cleaned: list[str]
    jobs_cancelled: list[int]


def force_destroy(instance_id: str, *, force: bool, snapshot: bool = True,
                  lock_wait_s: float = 30.0) -> ForceDestroyed:
    """Delete everything the instance has on Fly and mark it destroyed, from whatever state it is in.

    Its waiting jobs are cancelled first so none re-creates what is being deleted; the instance lock
    is taken (waiting up to `lock_wait_s`) so a running job is not cut off halfway. Volumes are
    snapshotted first, as by an ordinary destroy, unless `snapshot` is False (Fly refusing snapshots
    is one reason to force)."""
    if not force:
        raise AdminError("force-destroy skips the state machine; pass --force (or use the API's DELETE)")
    row = store.load(instance_id)
    if row is None:
        raise AdminError(f"no instance {instance_id}")
    if row.status == "destroyed":
        raise AdminError(f"instance {instance_id} is already destroyed")
    with get_db().service() as tx:
        cancelled = [int(r["id"]) for r in tx.all("admin_instance_cancel_waiting", instance_id=row.key)]
    try:
        with instance_lock(row.key, wait_s=lock_wait_s), fly_client() as fly:
            apps = sorted({row.fly_app or names.app_name(row.key), names.app_name(row.key)})
            for app in apps:
                machines.delete_everything(fly, app, snapshot=snapshot, deadline=time.monotonic() + 120)
            gateway.delete_token(str(row.gateway_token_secret_id) if row.gateway_token_secret_id else None)
            with get_db().service() as tx:
                tx.one("admin_force_destroyed", id=row.key)
                audited(tx, str(row.user_id), "instance_force_destroyed", row.key, was=row.status,
                        stage=row.provision_stage, apps=apps, jobs_cancelled=cancelled, snapshot=snapshot)
    except InstanceBusy:
        raise AdminError(f"instance {instance_id} is locked by a running job; cancel it "
                         f"(`openagents admin jobs --instance {instance_id}`) or wait") from None
    return ForceDestroyed(instance_id=row.key, was=row.status, apps_cleaned=apps, jobs_cancelled=cancelled)


class Orphan(BaseModel):
    app: str
    kind: str  # "instance-app" (its instance owns nothing) | "pool-app" (no claimed unit) | "app-missing"
    instance_id: str | None
    instance_status: str | None
    machines: int | None


def orphans() -> list[Orphan]:
    """What reconcile would repair, reported and not touched: Fly apps no live instance owns, pool apps
    no warm-pool row accounts for, and live instances whose app Fly no longer has."""
    with fly_client() as fly:
        apps = {a.name: a for a in fly.list_apps()}
    instance_apps = {name: iid for name in apps if (iid := names.instance_of_app(name))}
    pool_apps = [name for name in apps if names.unit_of_app(name)]
    with get_db().service() as tx:
        rows = {str(r["id"]): r for r in tx.all("reconcile_instances", ids=list(set(instance_apps.values())))}
        units = {r["fly_app"]: r for r in tx.all("reconcile_pool_units", apps=pool_apps)} if pool_apps else {}
    out: list[Orphan] = []
    for name, iid in sorted(instance_apps.items()):
        row = rows.get(iid)
        if _owns_nothing(row):
            out.append(Orphan(app=name, kind="instance-app", instance_id=iid,
                              instance_status=row["status"] if row else None, machines=apps[name].machine_count))
    for name in sorted(pool_apps):
        unit = units.get(name)
        if unit is None or (unit["status"] == "claimed" and unit["instance_id"] is None):
            out.append(Orphan(app=name, kind="pool-app", instance_id=None, instance_status=None,
                              machines=apps[name].machine_count))
    for iid, row in sorted(rows.items()):
        if row["status"] in ("running", "suspended", "stopped") and row["fly_app"] and row["fly_app"] not in apps:
            out.append(Orphan(app=row["fly_app"], kind="app-missing", instance_id=iid, instance_status=row["status"],
                              machines=None))
    with get_db().service() as tx:
        audited(tx, None, "orphans_listed", None, found=len(out))
    return out

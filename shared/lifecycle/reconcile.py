"""Reconcile (ARCHITECTURE §4, every 5 minutes): the database and Fly must describe the same world.

Our apps are named `oa-<instance id>` and our machines carry `openagents_instance` metadata, so each
Fly resource maps back to its instance without a lookup table. Warm-pool apps (`oa-pool-<unit id>`)
map through their `warm_pool` row: a claimed unit's app is its instance's app like any other; an
unclaimed unit (creating, ready, failed) is the refill's and is left alone; a pool app no row knows
(or whose claimed row lost its instance) is an orphan. Repairs:
- an app whose instance does not exist, is `destroyed`, or failed before it was ever ready (an
  instance in `error` short of stage `ready` owns nothing on Fly) is deleted with all it holds;
- an `oa-<id>` app of an instance that runs on a claimed pool unit's app instead is deleted;
- extra machines in a live instance's app (not the recorded one) are deleted; extra unattached
  volumes likewise;
- an instance whose app or machine Fly no longer has goes to `error` (the owner is told);
- `destroying` instances get their destroy job again, and provisioning/destroying that has not
  moved for LIFECYCLE_STUCK_AFTER_S gets its job re-deferred (a queueing lock stops duplicates).
Instances being provisioned are never touched, and any repair of an existing instance takes its
lock without waiting (busy ones wait for the next run).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

from pydantic import BaseModel

from shared import jobs, logs
from shared.data import Tx, get_db
from shared.fly import App, FlyClient, OrgMachine
from shared.fly.errors import FlyAPIError
from shared.lifecycle import machines, names, store
from shared.lifecycle.actions import defer_provision
from shared.lifecycle.config import fly_client
from shared.lifecycle.errors import InstanceBusy
from shared.lifecycle.locks import instance_lock
from shared.lifecycle.states import MISSING

log = logging.getLogger("openagents.lifecycle.reconcile")

STUCK_AFTER_S = 900


class ReconcileResult(BaseModel):
    apps: int = 0
    orphan_apps_deleted: int = 0
    orphan_machines_deleted: int = 0
    orphan_volumes_deleted: int = 0
    marked_missing: int = 0
    redeferred: int = 0
    busy: int = 0
    seconds: float = 0.0


def defer_destroy(tx: Tx, instance_id: str) -> None:
    jobs.defer(tx, jobs.DESTROY_INSTANCE, instance_id=str(instance_id))


def _owns_nothing(row: dict[str, Any] | None) -> bool:
    return row is None or row["status"] == "destroyed" or (row["status"] == "error" and row["provision_stage"] != "ready")


def _mark_missing(row: dict[str, Any], what: str) -> bool:
    """The app (everything) or only the machine is gone: `error`, and a start sets it up again. A lost
    machine keeps the app and its volume (the user's files): re-provisioning reuses them."""
    message = f"The agent's {what} no longer exists on Fly.io. Start it to set it up again."
    with get_db().service() as tx:
        if store.transition_in(tx, str(row["id"]), MISSING, error_message=message,
                               stage=None if what == "machine" else "queued"):
            tx.execute("instance_clear_machine" if what == "machine" else "instance_clear_fly", id=str(row["id"]))
            store.notify_in(tx, str(row["user_id"]), "instance_error", "Your agent's machine is gone", message,
                            instance_id=str(row["id"]))
            return True
    return False


class Reconciler:
    def __init__(self, fly: FlyClient) -> None:
        self.fly = fly
        self.result = ReconcileResult()

    def _locked(self, instance_id: str, fn: object) -> bool:
        try:
            with instance_lock(instance_id, wait_s=0):
                fn()  # type: ignore[operator]
            return True
        except InstanceBusy:
            self.result.busy += 1
            return False

    def _orphan_app(self, iid: str, app: App, row: dict[str, Any] | None) -> None:
        def delete() -> None:
            fresh = store.load(iid)
            if row is not None and (fresh is None or fresh.status != row["status"]):
                return  # moved on since we looked
            machines.delete_everything(self.fly, app.name, snapshot=False, deadline=time.monotonic() + 60)
            if fresh is not None:
                with get_db().service() as tx:
                    tx.execute("instance_clear_fly", id=iid)
            self.result.orphan_apps_deleted += 1

        if row is None:
            delete()
        else:
            self._locked(iid, delete)

    def _orphan_pool_app(self, app: App) -> None:
        machines.delete_everything(self.fly, app.name, snapshot=False, deadline=time.monotonic() + 60)
        self.result.orphan_apps_deleted += 1

    def _stray_app(self, iid: str, app: App, row: dict[str, Any]) -> None:
        """The instance lives in another app (a claimed pool unit's): this one is left over."""
        def delete() -> None:
            fresh = store.load(iid)
            if fresh is None or fresh.fly_app != row["fly_app"] or fresh.status == "provisioning":
                return
            machines.delete_everything(self.fly, app.name, snapshot=False, deadline=time.monotonic() + 60)
            self.result.orphan_apps_deleted += 1

        self._locked(iid, delete)

    def _pool_apps(self, apps: dict[str, App]) -> list[tuple[str, App]]:
        """(instance id, app) for claimed pool units; orphaned pool apps are deleted on the way."""
        pool = [a for a in apps.values() if names.unit_of_app(a.name)]
        if not pool:
            return []
        with get_db().service() as tx:
            units = {r["fly_app"]: r for r in tx.all("reconcile_pool_units", apps=[a.name for a in pool])}
        claimed: list[tuple[str, App]] = []
        for app in pool:
            unit = units.get(app.name)
            if unit is not None and unit["status"] != "claimed":
                continue  # the refill's
            try:
                if unit is None or unit["instance_id"] is None:
                    self._orphan_pool_app(app)
                else:
                    claimed.append((str(unit["instance_id"]), app))
            except FlyAPIError as e:
                logs.log(log, logging.WARNING, "reconcile of one app failed", app=app.name, error=str(e))
        return claimed

    def _live_app(self, iid: str, app: App, row: dict[str, Any], app_machines: list[OrgMachine]) -> None:
        live = [m for m in app_machines if (m.state or "") not in ("destroyed", "destroying")]
        recorded = row["fly_machine_id"]
        extras = [m for m in live if m.id != recorded]
        missing = recorded is None or all(m.id != recorded for m in live)

        def repair() -> None:
            fresh = store.load(iid)
            if fresh is None or fresh.status != row["status"] or fresh.fly_machine_id != recorded:
                return
            for m in extras:
                self.fly.delete_machine(app.name, m.id, force=True, missing_ok=True)
                self.result.orphan_machines_deleted += 1
            if missing and fresh.status != "error":
                if _mark_missing(row, "machine"):
                    self.result.marked_missing += 1
                return
            if (app.volume_count or 0) > 1:
                for v in self.fly.list_volumes(app.name):
                    if v.id != fresh.fly_volume_id and not v.attached_machine_id and (v.state or "") != "destroyed":
                        self.fly.delete_volume(app.name, v.id, missing_ok=True)
                        self.result.orphan_volumes_deleted += 1

        if extras or (missing and row["status"] != "error") or (app.volume_count or 0) > 1:
            self._locked(iid, repair)

    def run(self) -> ReconcileResult:
        started = time.perf_counter()
        apps = {a.name: a for a in self.fly.list_apps()}
        ours = [(iid, a) for a in apps.values() if (iid := names.instance_of_app(a.name))]
        ours += self._pool_apps(apps)
        self.result.apps = len(ours)
        by_app: dict[str, list[OrgMachine]] = defaultdict(list)
        for m in self.fly.list_org_machines():
            if m.app_name:
                by_app[m.app_name].append(m)
        with get_db().service() as tx:
            rows = {str(r["id"]): r for r in tx.all("reconcile_instances", ids=list({i for i, _ in ours}))}
            stuck = tx.all("lifecycle_stuck", after_s=STUCK_AFTER_S)
        for iid, app in ours:
            row = rows.get(iid)
            try:
                if _owns_nothing(row):
                    self._orphan_app(iid, app, row)
                elif row is not None and row["fly_app"] and row["fly_app"] != app.name:
                    if row["status"] != "provisioning":
                        self._stray_app(iid, app, row)
                elif row is not None and row["status"] in ("running", "suspended", "stopped", "error"):
                    self._live_app(iid, app, row, by_app.get(app.name, []))
            except FlyAPIError as e:
                logs.log(log, logging.WARNING, "reconcile of one app failed", app=app.name, error=str(e))
        for iid, row in rows.items():
            if row["status"] in ("running", "suspended", "stopped") and row["fly_app"] and row["fly_app"] not in apps:
                if self._locked(iid, lambda row=row: _mark_missing(row, "app")):
                    self.result.marked_missing += 1
        with get_db().service() as tx:
            for row in stuck:
                if row["status"] == "destroying":
                    defer_destroy(tx, str(row["id"]))
                else:
                    defer_provision(tx, str(row["id"]))
                self.result.redeferred += 1
            for iid, row in rows.items():  # destroying whose app is already gone: let its job finish
                if row["status"] == "destroying" and row["fly_app"] not in apps and row not in stuck:
                    defer_destroy(tx, iid)
        self.result.seconds = round(time.perf_counter() - started, 3)
        return self.result


def reconcile() -> ReconcileResult:
    with fly_client() as fly:
        result = Reconciler(fly).run()
    logs.log(log, logging.INFO, "reconcile", **result.model_dump())
    return result

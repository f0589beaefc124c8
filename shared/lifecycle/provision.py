"""The provision saga (ARCHITECTURE §4): app (own network) → volume → machine → started → ready.

Each step records the id it made before the next begins, and looks for what an interrupted earlier
attempt may have made before creating anything (names are derived from the instance id, machines
carry the instance id in their metadata), so a retry — or a fresh worker after a crash — resumes
where the last one stopped and never makes a second app, volume or machine. A capacity error moves
the volume and machine to the next region (FLY_FALLBACK_REGIONS). Transient failures make the job
retry with backoff; on the last attempt, or a failure retrying cannot fix, everything made so far is
deleted and the instance ends in `error` with the stage and a readable reason, and the user is told.

With the warm pool on (WARM_POOL_SIZE > 0), a hire whose instance has nothing made yet first claims a
ready pool unit (`warm_pool.claim`): its app, volume, machine and gateway token become the instance's,
recorded as if the steps had made them, so the same steps then find them all and only resume the
suspended machine. Once the machine is ready the agent version's files are pushed to the bridge
(`bundle.push_bundle`); a failed push fails the attempt like any other step. The steps are also what a
pool unit's build runs (`warm_pool.UnitBuild` overrides where ids are recorded and the metadata).
"""

from __future__ import annotations

import logging
import time

import httpx

from shared import logs
from shared.data import get_db
from shared.fly import FlyClient, Volume
from shared.fly.config import INSTANCE_METADATA_KEY
from shared.fly.errors import (
    FlyAPIError,
    FlyCapacityError,
    FlyConflict,
    FlyNotFound,
    FlyTransientError,
)
from shared.fly.models import MachineConfig
from shared.lifecycle import bundle, gateway, machines, names, store
from shared.lifecycle.config import LifecycleConfig, fly_client, lifecycle_config
from shared.lifecycle.errors import InstanceBusy, InstanceChanged, LifecycleError, ProvisionFailed
from shared.lifecycle.locks import instance_lock
from shared.lifecycle.states import PROVISION_FAILED, PROVISIONED, STAGES

log = logging.getLogger("openagents.lifecycle")


class NoCapacity(LifecycleError):
    def __init__(self, regions: list[str]) -> None:
        super().__init__(f"no capacity for the machine in {', '.join(regions)}")
        self.regions = regions


def retryable(exc: BaseException) -> bool:
    """Worth another attempt later (the job's retry strategy decides when, and when to give up)."""
    from psycopg import OperationalError

    return isinstance(exc, FlyTransientError | FlyConflict | NoCapacity | machines.MachineNotReady | InstanceBusy
                      | bundle.BundleNotPushed | httpx.HTTPError | OperationalError)


def reason_of(exc: BaseException) -> str:
    """A sentence for the user: what went wrong, without internals."""
    if isinstance(exc, ProvisionFailed):
        return exc.reason
    if isinstance(exc, NoCapacity | machines.MachineNotReady | bundle.BundleNotPushed | bundle.BundleRejected):
        return str(exc)
    if isinstance(exc, FlyTransientError):
        return f"Fly.io kept failing ({exc.status or 'no answer'}) and retries ran out"
    if isinstance(exc, FlyAPIError):
        return f"Fly.io refused the request ({exc.status}): {exc.message[:200]}"
    return "an internal error"


class ProvisionSaga:
    def __init__(self, fly: FlyClient, cfg: LifecycleConfig, row: store.InstanceRow) -> None:
        self.fly = fly
        self.cfg = cfg
        self.row = row
        self.id = row.key
        self.stage = row.provision_stage
        self.app = row.fly_app or names.app_name(self.id)  # a claimed pool unit's app keeps its name
        self.owner = self.id  # what `openagents_instance` metadata says

    # --- steps ------------------------------------------------------------------------------------

    def advance(self, stage: str) -> None:
        if STAGES.index(stage) > STAGES.index(self.stage):  # type: ignore[arg-type]
            store.set_stage(self.id, stage)
            self.stage = stage

    def run(self) -> None:
        token = gateway.ensure_token(self.id)
        self.advance("app")
        self.ensure_app()
        self.advance("volume")
        app, machine_id = self.ensure_machine(token)
        self.advance("starting")
        machines.start_ready(self.fly, self.cfg, app, machine_id, token)
        bundle.push_bundle(self.cfg, self.id, app, machine_id, token)
        if not store.transition(self.id, PROVISIONED, reset_health=True, touch=True, stage="ready"):
            raise InstanceChanged("instance left provisioning while it was being provisioned")

    # --- what a pool unit's build overrides -------------------------------------------------------

    def record(self, what: str, **ids: str) -> None:
        """Record a Fly id the moment the resource exists (`app`, `volume`, `machine`)."""
        store.record(f"instance_record_{what}", self.id, **ids)

    def config(self, token: str, volume_id: str) -> MachineConfig:
        return machines.machine_config(self.cfg, self.id, token, volume_id, self.row.memory_mb)

    def ensure_app(self) -> None:
        if self.row.fly_app == self.app:
            return
        self.fly.create_app(self.app, network=names.network_name(self.id), exist_ok=True)
        self.record("app", fly_app=self.app)

    def _adopt_machine(self) -> tuple[str, str] | None:
        """A machine an earlier attempt made: the recorded one, else one carrying our metadata."""
        found = [m for m in self.fly.list_machines(self.app)
                 if m.metadata.get(INSTANCE_METADATA_KEY) == self.owner or m.name == names.MACHINE_NAME]
        keep = next((m for m in found if m.id == self.row.fly_machine_id), found[0] if found else None)
        for extra in found:
            if keep is not None and extra.id != keep.id:  # never leave a duplicate behind
                self.fly.delete_machine(self.app, extra.id, force=True, missing_ok=True)
        if keep is None:
            return None
        if keep.id != self.row.fly_machine_id:
            self.record("machine", machine_id=keep.id, region=keep.region)
        if keep.metadata.get(INSTANCE_METADATA_KEY) != self.owner:  # e.g. a claimed pool unit's machine:
            self.fly.set_metadata(self.app, keep.id, INSTANCE_METADATA_KEY, self.owner)  # now it is ours
        return self.app, keep.id

    def _existing_volume(self) -> Volume | None:
        vols = [v for v in self.fly.list_volumes(self.app)
                if v.name == names.VOLUME_NAME and (v.state or "") not in ("destroyed", "destroying")]
        keep = next((v for v in vols if v.id == self.row.fly_volume_id), vols[0] if vols else None)
        for extra in vols:
            if keep is not None and extra.id != keep.id and not extra.attached_machine_id:
                self.fly.delete_volume(self.app, extra.id, missing_ok=True)
        return keep

    def ensure_machine(self, token: str) -> tuple[str, str]:
        adopted = self._adopt_machine()
        if adopted is not None:
            return adopted
        volume = self._existing_volume()
        regions = self.cfg.regions
        if volume is not None and volume.region in regions:  # resume where the volume already is
            regions.remove(volume.region)
            regions.insert(0, volume.region)  # type: ignore[arg-type]
        refused: list[str] = []
        for region in regions:
            try:
                if volume is not None and volume.region != region:
                    self.fly.delete_volume(self.app, volume.id, missing_ok=True)
                    volume = None
                if volume is None:
                    volume = self.fly.create_volume(self.app, names.VOLUME_NAME, region, self.cfg.volume_gb)
                if volume.id != self.row.fly_volume_id:
                    self.record("volume", volume_id=volume.id, region=region)
                self.advance("machine")
                machine = self.fly.create_machine(self.app, names.MACHINE_NAME, region, self.config(token, volume.id))
            except FlyCapacityError:
                refused.append(region)
                logs.log(log, logging.WARNING, "no capacity, trying the next region", instance_id=self.id,
                         region=region)
                continue
            self.record("machine", machine_id=machine.id, region=region)
            return self.app, machine.id
        if volume is not None:
            self.fly.delete_volume(self.app, volume.id, missing_ok=True)
        raise NoCapacity(refused)

    # --- giving up --------------------------------------------------------------------------------

    def fail(self, exc: BaseException) -> None:
        """Delete what was made, then `error` with the stage and reason, and tell the user."""
        stage = self.stage
        reason = reason_of(exc)
        cleaned = True
        try:
            machines.delete_everything(self.fly, self.app, snapshot=False, deadline=time.monotonic() + 120)
        except (FlyAPIError, httpx.HTTPError) as e:
            cleaned = False  # reconcile deletes it later: an instance in error before `ready` owns nothing
            logs.log(log, logging.WARNING, "cleanup after failed provisioning incomplete", instance_id=self.id,
                     error=str(e))
        message = f"Provisioning failed at stage '{stage}': {reason}."
        with get_db().service() as tx:
            if cleaned:
                tx.execute("instance_clear_fly", id=self.id)
            if store.transition_in(tx, self.id, PROVISION_FAILED, error_message=message):
                store.notify_in(tx, str(self.row.user_id), "instance_error", "Your agent could not be set up",
                                message, instance_id=self.id, stage=stage)
        logs.log(log, logging.WARNING, "provisioning failed", instance_id=self.id, stage=stage, reason=reason,
                 error_type=type(exc).__name__)


def _claim_warm_unit(cfg: LifecycleConfig, row: store.InstanceRow) -> store.InstanceRow:
    """The row with a pool unit's resources attached if one could be claimed, else as it was (the
    saga makes everything). Claiming is a shortcut: if it fails, the saga goes the long way."""
    from shared.lifecycle import warm_pool

    if row.fly_app is not None or row.gateway_token_secret_id is not None or not warm_pool.enabled():
        return row
    try:
        unit = warm_pool.claim(cfg, row)
    except Exception as e:  # noqa: BLE001 - whatever went wrong, the saga still provisions
        logs.log(log, logging.WARNING, "warm-pool claim failed; provisioning from scratch", instance_id=row.key,
                 error=str(e)[:300])
        return row
    if unit is None:
        return row
    claimed = store.load(row.key)
    return claimed if claimed is not None else row


def provision(instance_id: str, *, final_attempt: bool = False) -> str:
    """Run (or resume) the saga for one instance; returns `running`, `error` or `skipped`.
    Raises on a retryable failure unless this is the final attempt."""
    cfg = lifecycle_config()
    with instance_lock(instance_id), fly_client() as fly:
        row = store.load(instance_id)
        if row is None or row.status != "provisioning":
            return "skipped"
        row = _claim_warm_unit(cfg, row)
        saga = ProvisionSaga(fly, cfg, row)
        try:
            saga.run()
        except InstanceChanged:
            return "skipped"
        except Exception as exc:
            if final_attempt or not retryable(exc):
                if not isinstance(exc, FlyNotFound | FlyAPIError | LifecycleError | httpx.HTTPError):
                    log.exception("provisioning crashed", extra={"fields": {"instance_id": instance_id}})
                saga.fail(exc)
                return "error"
            logs.log(log, logging.INFO, "provisioning will retry", instance_id=instance_id, stage=saga.stage,
                     error=str(exc)[:300])
            raise
        logs.log(log, logging.INFO, "instance provisioned", instance_id=instance_id)
        return "running"

"""The provision saga (ARCHITECTURE §4): app (own network) → volume → machine → started → ready.

The Fly steps are `fly_steps.FlySteps` (shared with the warm pool's unit build): each records the id
it made on the instance before the next begins, and looks for what an interrupted earlier attempt may
have made before creating anything (names are derived from the instance id, machines carry the
instance id in their metadata), so a retry — or a fresh worker after a crash — resumes where the last
one stopped and never makes a second app, volume or machine. A capacity error moves the volume and
machine to the next region (FLY_FALLBACK_REGIONS). Transient failures make the job retry with
backoff; on the last attempt, or a failure retrying cannot fix, everything made so far is deleted and
the instance ends in `error` with the stage and a readable reason, and the user is told.

With the warm pool on (WARM_POOL_SIZE > 0), a hire whose instance has nothing made yet first claims a
ready pool unit (`warm_pool.claim`): its app, volume, machine and gateway token become the instance's,
recorded as if the steps had made them, so the same steps then find them all and only resume the
suspended machine. A claimed unit whose machine Fly no longer has (the emulator restarted, a host was
lost) is let go (`warm_pool.release_vanished`: the unit and its token deleted, the instance's Fly ids
cleared) and the saga provisions from scratch. Once the machine is ready the agent version's files are
pushed to the bridge (`bundle.push_bundle`); a failed push fails the attempt like any other step.
"""

from __future__ import annotations

import logging
import time

import httpx

from shared import logs
from shared.data import get_db
from shared.fly import FlyClient
from shared.fly.errors import FlyAPIError, FlyNotFound
from shared.lifecycle import bundle, gateway, machines, names, store, warm_pool
from shared.lifecycle.config import LifecycleConfig, fly_client, lifecycle_config
from shared.lifecycle.errors import InstanceChanged, LifecycleError, reason_of, retryable
from shared.lifecycle.fly_steps import Build, FlySteps
from shared.lifecycle.locks import instance_lock
from shared.lifecycle.states import PROVISION_FAILED, PROVISIONED, STAGES

log = logging.getLogger("openagents.lifecycle")


class ProvisionSaga:
    def __init__(self, fly: FlyClient, cfg: LifecycleConfig, row: store.InstanceRow) -> None:
        self.fly = fly
        self.cfg = cfg
        self.row = row
        self.id = row.key
        self.stage = row.provision_stage
        self.app = row.fly_app or names.app_name(self.id)  # a claimed pool unit's app keeps its name
        build = Build(app=self.app, network=names.network_name(self.id), owner=self.id, memory_mb=row.memory_mb,
                      log_fields={"instance_id": self.id}, app_made=row.fly_app == self.app,
                      machine_id=row.fly_machine_id, volume_id=row.fly_volume_id)
        self.steps = FlySteps(fly, cfg, build, _InstanceLedger(self))

    def advance(self, stage: str) -> None:
        if STAGES.index(stage) > STAGES.index(self.stage):
            store.set_stage(self.id, stage)
            self.stage = stage

    def run(self) -> None:
        token = gateway.ensure_token(self.id)
        self.advance("app")
        self.steps.ensure_app()
        self.advance("volume")
        machine_id = self.steps.ensure_machine(token)
        self.advance("starting")
        machines.start_ready(self.fly, self.cfg, self.app, machine_id, token)
        bundle.push_bundle(self.cfg, self.id, self.app, machine_id, token)
        if not store.transition(self.id, PROVISIONED, reset_health=True, touch=True, stage="ready"):
            raise InstanceChanged("instance left provisioning while it was being provisioned")

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


class _InstanceLedger:
    """The steps' ids go on the instance's row; reaching `machine` advances its stage."""

    def __init__(self, saga: ProvisionSaga) -> None:
        self.saga = saga

    def app(self, fly_app: str) -> None:
        store.record("instance_record_app", self.saga.id, fly_app=fly_app)

    def volume(self, volume_id: str, region: str) -> None:
        store.record("instance_record_volume", self.saga.id, volume_id=volume_id, region=region)

    def machine(self, machine_id: str, region: str | None) -> None:
        store.record("instance_record_machine", self.saga.id, machine_id=machine_id, region=region)

    def stage(self, stage: str) -> None:
        self.saga.advance(stage)


def _claim_warm_unit(cfg: LifecycleConfig, row: store.InstanceRow) -> store.InstanceRow:
    """The row with a pool unit's resources attached if one could be claimed, else as it was (the
    saga makes everything). Claiming is a shortcut: if it fails, the saga goes the long way."""
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
        if warm_pool.claimed_unit_vanished(fly, row):
            row = warm_pool.release_vanished(fly, row)
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

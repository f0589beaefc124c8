"""The update primitive (ARCHITECTURE §4): stop → update the machine config → start, for rolling a
new agent version or base image out to an instance. The publish flow defers `update_instance`; this
only moves the machine.

- It waits while a turn of the instance is streaming (`TurnStreaming`: the job defers itself again a
  little later instead of cutting the answer off).
- An instance that was running or suspended is started again and waits for readiness; a stopped one
  stays stopped and picks the new config up at its next start.
- Once the machine is up, the version's files are written to the volume (`bundle.push_bundle`: PUT
  /v1/bundle on the bridge, which keeps the files the user edited) and the version is recorded on the
  instance. A stopped instance whose version has files is started for the push and stopped again, so
  `version_id` always names the files on its volume. A failed push fails the job (retried).
- The instance's pin wins (`agent_instances.version_pin`, shared/platform/rollout.py): a pinned
  instance is moved to its pin whatever version the job names; an unpinned one is moved only to the
  agent's current version — a job naming an older one (a superseded rollout's) changes nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from shared import logs
from shared.data import get_db
from shared.lifecycle import bundle, gateway, machines, store
from shared.lifecycle.config import fly_client, lifecycle_config
from shared.lifecycle.errors import TurnStreaming
from shared.lifecycle.locks import instance_lock
from shared.lifecycle.states import UPDATED

log = logging.getLogger("openagents.lifecycle")


def streaming(instance_id: str) -> bool:
    with get_db().service() as tx:
        return bool(tx.scalar("instance_streaming", id=str(instance_id)))


def target_version(instance_id: str, version_id: str | None) -> tuple[str | None, bool]:
    """(the version to move to, whether the asked one is stale): the pin if there is one, else the one
    asked for — stale when it is not the agent's current version."""
    with get_db().service() as tx:
        row = tx.one("instance_update_target", id=str(instance_id))
    if row is None:
        return version_id, False
    if row["version_pin"] is not None:
        return str(row["version_pin"]), False
    current = str(row["current_version_id"]) if row["current_version_id"] else None
    return version_id, version_id is not None and version_id != current


def update(instance_id: str, *, version_id: str | None = None, image: str | None = None) -> str:
    cfg = lifecycle_config()
    if image:
        cfg = replace(cfg, image=image)
    with instance_lock(instance_id), fly_client() as fly:
        row = store.load(instance_id)
        if row is None:
            return "gone"
        version_id, stale = target_version(instance_id, version_id)
        if stale:
            return "skipped (not the agent's current version)"
        if not UPDATED.permits(row.status) or not row.fly_app or not row.fly_machine_id or not row.fly_volume_id:
            return f"skipped ({row.status})"
        if streaming(instance_id):
            raise TurnStreaming(f"instance {instance_id} has a turn streaming")
        token = gateway.ensure_token(instance_id)
        machines.stop_and_wait(fly, row.fly_app, row.fly_machine_id, time.monotonic() + cfg.start_timeout_s)
        config = machines.machine_config(cfg, row.key, token, row.fly_volume_id, row.memory_mb)
        fly.update_machine(row.fly_app, row.fly_machine_id, config, skip_launch=True)
        machines.wait_settled(fly, row.fly_app, row.fly_machine_id, time.monotonic() + cfg.start_timeout_s)
        if row.status == "stopped":
            if bundle.version_bundle(row.key, version_id) is None:
                bundle.push_bundle(cfg, row.key, row.fly_app, row.fly_machine_id, token, version_id=version_id)
                outcome = "updated (stopped)"
            else:  # start it for the files, then back to rest
                machines.start_ready(fly, cfg, row.fly_app, row.fly_machine_id, token)
                bundle.push_bundle(cfg, row.key, row.fly_app, row.fly_machine_id, token, version_id=version_id)
                machines.stop_and_wait(fly, row.fly_app, row.fly_machine_id, time.monotonic() + cfg.start_timeout_s)
                outcome = "updated (stopped, files written)"
        else:
            machines.start_ready(fly, cfg, row.fly_app, row.fly_machine_id, token)
            bundle.push_bundle(cfg, row.key, row.fly_app, row.fly_machine_id, token, version_id=version_id)
            store.transition(row.key, UPDATED, reset_health=True)
            outcome = "updated"
    logs.log(log, logging.INFO, "instance updated", instance_id=instance_id, version_id=version_id, outcome=outcome)
    return outcome

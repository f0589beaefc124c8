"""What chat and relays call before talking to an instance's machine.

    from shared.lifecycle.wake import wake, machine_target

    instance = wake(instance_id)                    # suspended/stopped → started + bridge ready → running
    target = machine_target(instance_id)            # a MachineTarget (shared.bridge): what the bridge client takes

`wake` takes the same per-instance lock as every lifecycle job, so it never interleaves with a
provision, stop, update or destroy of the same instance (it waits for one in progress, up to its
timeout). A `running` instance returns at once: if Fly has meanwhile suspended it on its own, Fly's
proxy resumes it on the first request (autostart), as it would for any traffic.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from shared.bridge.target import MachineTarget
from shared.lifecycle.errors import InstanceBusy, InstanceNotFound, InstanceUnavailable, MachineNotReady

if TYPE_CHECKING:
    from shared.lifecycle.store import InstanceRow

# The package imports this module for its names, so every API function that touches any lifecycle
# module (its API shapes, its notifications) loads it: what waking uses (the store, the state
# machine, the lock, the lifecycle config, the gateway token) is imported when it is called.

log = logging.getLogger("openagents.lifecycle")

WAKEABLE = frozenset({"suspended", "stopped"})


def needs_wake(status: str) -> bool:
    """Whether chat should show `status {state: "waking"}` and call `wake` first."""
    return status in WAKEABLE


def _unavailable(status: str) -> InstanceUnavailable:
    if status == "provisioning":
        return InstanceUnavailable("The agent is still being set up; try again in a moment.")
    if status == "error":
        return InstanceUnavailable("The agent is in error; restart it first.")
    return InstanceUnavailable(f"The agent is {status}.")


def wake(instance_id: str, *, timeout_s: float | None = None) -> InstanceRow:
    """Bring the instance to `running` (machine started, bridge ready) and touch `last_active_at`.

    Raises `InstanceNotFound`, `InstanceUnavailable` (provisioning, error, destroying/destroyed, or the
    machine did not come up in time) or `InstanceBusy` (another operation held the lock too long).
    """
    from shared.lifecycle import store

    row = store.load(instance_id)
    if row is None:
        raise InstanceNotFound()
    if row.status == "running":
        store.touch(instance_id)
        return row
    if row.status not in WAKEABLE:
        raise _unavailable(row.status)
    from shared import logs
    from shared.fly.errors import FlyAPIError  # the Fly client loads only when a machine must be woken
    from shared.lifecycle import gateway, machines
    from shared.lifecycle.config import fly_client, lifecycle_config
    from shared.lifecycle.locks import instance_lock
    from shared.lifecycle.states import WAKE

    cfg = lifecycle_config()
    budget = timeout_s if timeout_s is not None else cfg.start_timeout_s + cfg.ready_timeout_s
    deadline = time.monotonic() + budget
    started = time.monotonic()
    with instance_lock(instance_id, wait_s=budget), fly_client() as fly:
        row = store.load(instance_id)
        if row is None:
            raise InstanceNotFound()
        if row.status == "running":
            store.touch(instance_id)
            return row
        if row.status not in WAKEABLE or not row.fly_app or not row.fly_machine_id:
            raise _unavailable(row.status)
        token = gateway.read_token(str(row.gateway_token_secret_id) if row.gateway_token_secret_id else None)
        try:
            machines.start_ready(fly, cfg, row.fly_app, row.fly_machine_id, token,
                                 deadline_s=max(1.0, deadline - time.monotonic()))
        except (MachineNotReady, FlyAPIError) as e:
            raise InstanceUnavailable(f"The agent could not be woken: {e}") from e
        store.transition(row.key, WAKE, reset_health=True, touch=True)
    logs.log(log, logging.INFO, "instance woken", instance_id=instance_id,
             ms=round((time.monotonic() - started) * 1000))
    woken = store.load(instance_id)
    assert woken is not None
    return woken


def machine_target(instance_id: str) -> MachineTarget:
    """How to reach the instance's machine: its app, machine id and gateway token (from Vault, as
    service role), for the bridge client. Raises `InstanceNotFound`, or `InstanceUnavailable` when it has no machine."""
    from shared.data import get_db
    from shared.lifecycle import store

    if not store.valid_id(instance_id):
        raise InstanceNotFound()
    with get_db().service() as tx:
        row = tx.one("instance_target", id=str(instance_id))
    if row is None:
        raise InstanceNotFound()
    if not row["fly_app"] or not row["fly_machine_id"] or not row["gateway_token"]:
        raise _unavailable(row["status"])
    return MachineTarget(str(instance_id), row["fly_app"], row["fly_machine_id"], row["gateway_token"])


__all__ = ["InstanceBusy", "MachineTarget", "machine_target", "needs_wake", "wake"]

"""Executing the user's actions (start, stop, suspend, restart) and the idle stop, in jobs.

The API checked the action against the allowed-from set when it was asked for; here it is checked
again under the instance's lock (things may have moved since), the machine is driven on Fly, and the
guarded update records the outcome. A start whose machine is gone (an instance that failed to
provision, or was stopped from `error`) becomes a fresh provisioning run.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

from shared import jobs, logs
from shared.data import Tx, get_db
from shared.fly import FlyClient
from shared.lifecycle import gateway, machines, store
from shared.lifecycle.config import LifecycleConfig, fly_client, lifecycle_config
from shared.lifecycle.locks import instance_lock
from shared.lifecycle.states import (
    ACTION_TRANSITIONS,
    IDLE_STOP,
    REPROVISION,
    SUSPEND,
    Transition,
)

log = logging.getLogger("openagents.lifecycle")

Reason = Literal["user", "idle", "health"]
ACTION_FAILED = Transition("action_failed", frozenset({"running", "suspended", "stopped", "error"}), "error")


def defer_provision(tx: Tx, instance_id: str) -> None:
    jobs.defer(tx, jobs.PROVISION_INSTANCE, instance_id=str(instance_id))


def _start(fly: FlyClient, cfg: LifecycleConfig, row: store.InstanceRow, t: Transition) -> str:
    if row.fly_machine_id is None or row.fly_app is None:
        with get_db().service() as tx:
            if store.transition_in(tx, row.key, REPROVISION, stage="queued", error_message=None, set_error=True):
                defer_provision(tx, row.key)
                return "reprovisioning"
        return "skipped"
    token = gateway.read_token(str(row.gateway_token_secret_id) if row.gateway_token_secret_id else None)
    machines.start_ready(fly, cfg, row.fly_app, row.fly_machine_id, token)
    store.transition(row.key, t, reset_health=True, touch=True)
    return "running"


def _stop(fly: FlyClient, cfg: LifecycleConfig, row: store.InstanceRow, t: Transition) -> str:
    if row.fly_machine_id and row.fly_app:
        machines.stop_and_wait(fly, row.fly_app, row.fly_machine_id, time.monotonic() + cfg.start_timeout_s)
    store.transition(row.key, t)
    return "stopped"


def _suspend(fly: FlyClient, cfg: LifecycleConfig, row: store.InstanceRow, t: Transition) -> str:
    assert row.fly_app and row.fly_machine_id  # running instances always have a machine
    ended = machines.suspend_and_wait(fly, row.fly_app, row.fly_machine_id, time.monotonic() + cfg.start_timeout_s)
    if ended == "suspended":
        store.transition(row.key, SUSPEND)
    else:  # it was not running on Fly after all: say what it is
        store.transition(row.key, Transition("sync", frozenset({"running"}), "stopped"))
    return ended


def _restart(fly: FlyClient, cfg: LifecycleConfig, row: store.InstanceRow, t: Transition) -> str:
    if row.fly_machine_id is None or row.fly_app is None:
        return _start(fly, cfg, row, ACTION_TRANSITIONS["start"])
    token = gateway.read_token(str(row.gateway_token_secret_id) if row.gateway_token_secret_id else None)
    machines.restart_and_wait(fly, cfg, row.fly_app, row.fly_machine_id, token)
    store.transition(row.key, t, reset_health=True, touch=True)
    return "running"


_HANDLERS = {"start": _start, "stop": _stop, "suspend": _suspend, "restart": _restart}


def still_idle(instance_id: str) -> bool:
    """Re-checked under the lock: chat or relay traffic since the sweep keeps the instance up."""
    from shared.billing.plans import plan_limits

    with get_db().service() as tx:
        row = tx.one("idle_of", id=str(instance_id))
    if row is None:
        return False
    limit = plan_limits(row["plan"], row["plan_status"]).idle_stop_after
    return bool(row["now"] - row["last_active_at"] >= limit)


def run_action(instance_id: str, action: str, *, reason: Reason = "user") -> str:
    """Do one action under the instance's lock; returns what happened (for the job log)."""
    t = IDLE_STOP if reason == "idle" else ACTION_TRANSITIONS[action]  # type: ignore[index]
    cfg = lifecycle_config()
    with instance_lock(instance_id), fly_client() as fly:
        row = store.load(instance_id)
        if row is None:
            return "gone"
        if not t.permits(row.status):
            logs.log(log, logging.INFO, "action no longer applies", instance_id=instance_id, action=action,
                     status=row.status)
            return f"skipped ({row.status})"
        if reason == "idle" and not still_idle(instance_id):
            return "skipped (active again)"
        return _HANDLERS[action](fly, cfg, row, t)


def mark_failed(instance_id: str, action: str, error: BaseException) -> None:
    """The action's last attempt failed: the instance is in `error`, and its owner is told."""
    message = f"Could not {action} the agent: {error}"[:500]
    with get_db().service() as tx:
        row = tx.one("instance_row", id=str(instance_id))
        if row and store.transition_in(tx, instance_id, ACTION_FAILED, error_message=message):
            store.notify_in(tx, str(row["user_id"]), "instance_error", f"Your agent could not {action}",
                            message, instance_id=str(instance_id), action=action)

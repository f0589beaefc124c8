"""How a published version reaches the agent's instances: a staged rollout through the update job
(ARCHITECTURE §4 "Update", §5 "Publish"), and the per-instance pin that always wins.

Rollout (one per published version, table `version_rollouts`; the `rollout_version` job):

    publish      in the publishing transaction: rollouts still under way for the agent are superseded,
                 and if the agent has live instances a rollout starts (stage 1) and its job is deferred
    stage 1      ROLLOUT_FIRST_STAGE_PERCENT of the eligible instances (at least one), the quietest
                 first (no turn streaming, least recently active), each gets an `update_instance` job
                 for the version; the job looks every ROLLOUT_POLL_S until each one is resolved
    stage 2      once every stage-1 update succeeded: all other eligible instances, the same way
    done         every stage-2 update resolved (failures are counted, not retried by the rollout)
    halted       a stage-1 update failed: stage 2 never starts; the creator is notified and a new
                 version starts a new rollout

Eligible: live (provisioning, running, suspended, stopped — a provisioning instance's update runs after
its provision, behind the same job lock), not pinned, not already on the version. A busy instance is
not skipped: its update job waits while a turn streams (shared/lifecycle/update.py re-defers itself),
and the rollout waits for it. A target is resolved as `updated` (the instance runs the version),
`skipped` (destroyed, or pinned meanwhile) or `failed` (no update job of it is left and the instance
is not on the version); `shared.lifecycle.update` also refuses to move an unpinned instance to a
version that is no longer the agent's current one, so a superseded rollout's leftover jobs do nothing.

Pin (`PATCH /api/instances/{id} {version_pin}`): a published (or since superseded) version of the
instance's own agent, or null to follow the agent's current version again. Setting it defers an update
to that version (or, for null, to the current one) when the instance is not on it; rollouts skip
pinned instances, and the update job moves a pinned instance only to its pin.

The job is safe to kill and run again: each pass re-reads the rollout under its row lock, picks a
stage's instances once (`selected_at`), and re-derives outcomes from the instances and the queue.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from typing import Any
from uuid import UUID

from shared import jobs, logs
from shared.data import Tx, get_db
from shared.jobs.catalogue import ROLLOUT_VERSION, instance_lock
from shared.problems import Problem

log = logging.getLogger("openagents.platform.rollout")

PINNABLE = ("published", "superseded")


def _settings() -> Any:
    from shared.config import get_settings

    return get_settings()


# --- publish ---------------------------------------------------------------------------------------

def start(tx: Tx, *, agent_id: Any, version_id: Any, creator_id: Any) -> bool:
    """In the publishing transaction: supersede older rollouts; start this version's if the agent has
    live instances (else there is nothing to roll out: new hires get the current version). True if
    one started."""
    tx.execute("rollout_supersede_others", agent_id=agent_id, version_id=version_id)
    if not tx.scalar("rollout_live_instances", agent_id=agent_id):
        return False
    tx.execute("rollout_create", version_id=version_id, agent_id=agent_id, creator_id=creator_id,
               percent=_settings().ROLLOUT_FIRST_STAGE_PERCENT)
    jobs.defer(tx, ROLLOUT_VERSION, version_id=str(version_id))
    return True


# --- the job ---------------------------------------------------------------------------------------

def first_stage_size(eligible: int, percent: int) -> int:
    """The first stage's share of `eligible` instances, rounded up, at least one (if there is one)."""
    if eligible <= 0:
        return 0
    return min(eligible, max(1, math.ceil(eligible * percent / 100)))


def advance(version_id: str) -> str:
    """One pass of the rollout job: resolve, move on a stage or finish, or wait (the job re-defers
    itself). Returns what happened, for the job's result and the logs."""
    with get_db().service() as tx:
        r = tx.one("rollout_lock", version_id=version_id)
        if r is None:
            return "gone"
        if r["status"] != "rolling":
            return str(r["status"])
        if r["current_version_id"] is None or str(r["current_version_id"]) != str(version_id):
            tx.execute("rollout_finish", version_id=version_id, status="superseded",
                       detail="The version is no longer the agent's current one.")
            return "superseded"
        for _ in range(2):  # a stage with nothing to do moves straight on to the next
            if r["selected_at"] is None:
                picked = _pick(tx, r)
                logs.log(log, logging.INFO, "rollout stage started", version_id=version_id, stage=r["stage"],
                         instances=picked)
            tx.execute("rollout_resolve", version_id=version_id, lock_prefix=instance_lock(""),
                       task=jobs.UPDATE_INSTANCE.name)
            counts = tx.one("rollout_stage_counts", version_id=version_id, stage=r["stage"])
            assert counts is not None
            if counts["pending"]:
                later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=_settings().ROLLOUT_POLL_S)
                jobs.defer(tx, ROLLOUT_VERSION, scheduled_at=later, version_id=str(version_id))
                return f"waiting (stage {r['stage']}: {counts['pending']} of {counts['total']} pending)"
            if r["stage"] == 1 and counts["failed"]:
                halt = (f"{counts['failed']} of {counts['total']} first-stage updates failed, so the rest of the "
                        "instances were not updated. Check the version, then publish a fixed one.")
                tx.execute("rollout_finish", version_id=version_id, status="halted", detail=halt)
                _notify(tx, r, "rollout.halted", f"{r['agent_name']} {r['version']}: rollout halted", halt)
                return "halted"
            if r["stage"] == 1:
                tx.execute("rollout_next_stage", version_id=version_id)
                r = {**r, "stage": 2, "selected_at": None}
                continue
            detail: str | None = None
            if counts["failed"]:
                detail = f"{counts['failed']} of {counts['total']} updates of the second stage failed."
                _notify(tx, r, "rollout.failures", f"{r['agent_name']} {r['version']}: some updates failed", detail)
            tx.execute("rollout_finish", version_id=version_id, status="done", detail=detail)
            return "done"
    return "done"


def _pick(tx: Tx, r: Any) -> int:
    """Choose the current stage's instances and defer their updates (in the same transaction)."""
    version_id, stage = str(r["version_id"]), int(r["stage"])
    pick: int | None = None
    if stage == 1:
        eligible = int(tx.scalar("rollout_eligible_count", agent_id=r["agent_id"], version_id=version_id) or 0)
        pick = first_stage_size(eligible, int(r["first_stage_percent"]))
    chosen = [] if pick == 0 else tx.all("rollout_pick", version_id=version_id, agent_id=r["agent_id"], stage=stage,
                                         pick=pick)
    for row in chosen:
        jobs.defer(tx, jobs.UPDATE_INSTANCE, instance_id=str(row["instance_id"]), version_id=version_id)
    tx.execute("rollout_selected", version_id=version_id)
    return len(chosen)


def _notify(tx: Tx, r: Any, kind: str, title: str, body: str) -> None:
    tx.execute("platform_notify", user_id=r["creator_id"], kind=kind, title=title, body=body,
               data=json.dumps({"version_id": str(r["version_id"]), "agent_id": str(r["agent_id"])}))


# --- pins ------------------------------------------------------------------------------------------

def set_pin(user_id: str, instance_id: str, pin: UUID | None) -> None:
    """Pin the user's instance to a version of its agent (None: follow the current version) and defer
    the update that brings it there. 404 not the user's, 409 destroyed, 422 not a version it can run."""
    from shared.lifecycle.errors import IllegalTransition, InstanceNotFound

    with get_db().service() as tx:
        row = tx.one("instance_pin_lock", id=instance_id, user_id=user_id)
        if row is None:
            raise InstanceNotFound()
        if row["status"] in ("destroyed", "destroying"):
            raise IllegalTransition("pin", row["status"])
        if pin is not None:
            version = tx.one("pin_version_of_agent", version_id=str(pin), agent_id=row["agent_id"])
            if version is None or version["status"] not in PINNABLE or version["published_at"] is None:
                raise Problem(422, "Unprocessable Content",
                              "version_pin must be a published version of this instance's agent.",
                              code="invalid-version-pin",
                              errors=[{"loc": ["body", "version_pin"], "msg": "not a published version of this agent",
                                       "type": "value_error"}])
        tx.execute("instance_set_pin", id=instance_id, version_pin=str(pin) if pin else None)
        target = str(pin) if pin is not None else (str(row["current_version_id"]) if row["current_version_id"] else None)
        if target is not None and target != (str(row["version_id"]) if row["version_id"] else None):
            jobs.defer(tx, jobs.UPDATE_INSTANCE, instance_id=instance_id, version_id=target)
        from shared import audit

        audit.record(tx, user_id, "instance.version_pinned", f"instance:{instance_id}",
                     {"version_pin": str(pin) if pin else None})

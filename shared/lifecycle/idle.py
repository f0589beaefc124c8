"""Idle shutdown (ARCHITECTURE §4/§5b, hourly): an instance idle past its owner's plan threshold is
stopped. Thresholds come from `shared.billing.plans` (trial/Basic 2 h, Pro 12 h, Power 24 h; a
lapsed subscription gets the trial's), over `last_active_at`, which chat and relay traffic keep
current. Fly's autostop suspends idle machines much sooner; this stops them, which frees the memory
snapshot too.

The sweep only defers a `stop_instance` job per instance (reason `idle`): the stop runs under the
instance's lock like every other action and checks idleness again first.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel

from shared import jobs, logs
from shared.billing.plans import PLANS, plan_limits
from shared.data import get_db

log = logging.getLogger("openagents.lifecycle.idle")


class IdleResult(BaseModel):
    candidates: int = 0
    stops_deferred: int = 0


def idle_shutdown(*, instance_ids: list[str] | None = None) -> IdleResult:
    shortest = min(p.idle_stop_after for p in PLANS.values())
    result = IdleResult()
    with get_db().service() as tx:
        rows = tx.all("idle_candidates", min_idle_s=shortest.total_seconds(), ids=instance_ids)
        result.candidates = len(rows)
        for r in rows:
            if r["now"] - r["last_active_at"] < plan_limits(r["plan"], r["plan_status"]).idle_stop_after:
                continue
            iid = str(r["id"])
            job = jobs.defer(tx, jobs.STOP_INSTANCE, instance_id=iid, reason="idle")
            result.stops_deferred += job is not None
    logs.log(log, logging.INFO, "idle shutdown", **result.model_dump())
    return result

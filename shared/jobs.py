"""Deferring durable jobs from the data layer (the worker side lives in `jobs/`).

A job is deferred in the same transaction as the rows that need it: either both commit or neither
does, so nothing is half-written and nothing is lost.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shared.data import Tx


def defer(tx: Tx, task: str, *, lock: str | None = None, queueing_lock: str | None = None,
          queue: str = "default", priority: int = 0, scheduled_at: datetime | None = None,
          **args: Any) -> int | None:
    """Returns the job id, or None when a job with the same `queueing_lock` is already waiting."""
    if queueing_lock is None:
        return tx.scalar("job_defer", queue=queue, task=task, priority=priority, lock=lock, queueing_lock=None,
                         args=json.dumps(args, default=str), scheduled_at=scheduled_at)
    from psycopg import errors

    try:
        with tx.savepoint():
            return tx.scalar("job_defer", queue=queue, task=task, priority=priority, lock=lock,
                             queueing_lock=queueing_lock, args=json.dumps(args, default=str),
                             scheduled_at=scheduled_at)
    except errors.UniqueViolation:
        return None

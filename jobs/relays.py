"""Relay jobs: `relay_process` answers one recorded chat-platform update (`shared.relays.process`).

Safe to kill anywhere and run again (ARCHITECTURE §8): the reply is decided once and every part is
sent once (`shared.relays.outbox`). A platform's rate limit ends the attempt with `RateLimited`; the
retry then waits the platform's own `retry_after`, anything else backs off exponentially.
"""

from __future__ import annotations

import logging
import math

import procrastinate
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from jobs.app import task
from shared import jobs, logs

log = logging.getLogger("openagents.jobs.relays")

MAX_ATTEMPTS = 8


class RelayRetry(BaseRetryStrategy):
    """The platform's `retry_after` for a rate limit; 2, 4, 8 … s (at most 60) for anything else."""

    def get_retry_decision(self, *, exception: BaseException, job: procrastinate.jobs.Job) -> RetryDecision | None:
        from shared.relays.models import RateLimited

        if job.attempts >= MAX_ATTEMPTS:
            return None
        if isinstance(exception, RateLimited):
            return RetryDecision(retry_in={"seconds": max(1, math.ceil(exception.retry_after))})
        return RetryDecision(retry_in={"seconds": min(60, 2 ** (job.attempts + 1))})


@task(jobs.RELAY_PROCESS, retry=RelayRetry())
def relay_process(inbox_id: int) -> str:
    """Answer one relay update (deferred by intake in the transaction that recorded it)."""
    from shared.relays.process import process

    outcome = process(int(inbox_id))
    logs.log(log, logging.INFO, "relay job done", inbox_id=inbox_id, outcome=outcome)
    return outcome

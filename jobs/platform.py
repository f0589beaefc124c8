"""Creator-platform jobs: `rollout_version` moves a published version through its rollout stages
(`shared.platform.rollout`). On the lifecycle queue, beside the `update_instance` jobs it defers.

Each run is one pass under the rollout's row lock; while a stage's updates are pending it defers itself
again ROLLOUT_POLL_S later (the queueing lock keeps one waiting). Safe to kill anywhere and run again:
the stage's instances are chosen once and outcomes are read back from the instances and the queue.
"""

from __future__ import annotations

import logging

from jobs.app import task
from shared import logs
from shared.jobs.catalogue import ROLLOUT_VERSION

log = logging.getLogger("openagents.jobs.platform")


@task(ROLLOUT_VERSION, retry=5)
def rollout_version(version_id: str) -> str:
    """Advance one version's rollout (deferred when it is published, then by itself while it waits)."""
    from shared.platform.rollout import advance

    outcome = advance(version_id)
    logs.log(log, logging.INFO, "rollout pass", version_id=version_id, outcome=outcome)
    return outcome

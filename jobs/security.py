"""Security housekeeping jobs.

`ssh_audit_retention` (daily, `ssh-audit-retention`): deletes SSH audit rows older than 90 days in
batches, each its own transaction; run again after a crash it simply deletes what is left.
"""

from __future__ import annotations

import logging

from jobs.app import periodic, task
from shared import jobs, logs

log = logging.getLogger("openagents.jobs.security")


@periodic("ssh-audit-retention")
@task(jobs.SSH_AUDIT_RETENTION)
def ssh_audit_retention(timestamp: int | None = None) -> int:
    from shared.ssh.audit_log import RETENTION_DAYS, purge

    removed = purge(RETENTION_DAYS)
    logs.log(log, logging.INFO, "ssh audit retention", removed=removed, days=RETENTION_DAYS)
    return removed

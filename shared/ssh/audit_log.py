"""The SSH audit log as its owner reads it — a page (`{items, next_cursor}`, newest first) or the
whole log as CSV — and the retention that keeps RETENTION_DAYS of it.

Pages and exports act as the user (RLS: own rows). The CSV is streamed in keyset batches, so a long
log costs no more memory than one batch; cells that a spreadsheet would read as a formula (starting
with `=`, `+`, `-`, `@`, tab or carriage return) are prefixed with `'`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from shared.auth import User
from shared.data import acting_as, get_db
from shared.lifecycle.errors import InstanceNotFound
from shared.pagination import Page, decode_cursor, page_of
from shared.ssh.models import SshAuditEntry, SshAuditQuery

RETENTION_DAYS = 90
PURGE_BATCH = 5000
CSV_BATCH = 1000
CSV_COLUMNS = ("id", "created_at", "finished_at", "command", "outcome", "allowed", "exit_code", "output_truncated",
               "detail", "output")


def _visible(tx: Any, instance_id: str) -> None:
    if tx.one("instance_view", id=instance_id) is None:
        raise InstanceNotFound()


def page(user: User, instance_id: str, query: SshAuditQuery) -> Page[SshAuditEntry]:
    after = decode_cursor(query.cursor, {"id": int})
    with acting_as(user) as tx:
        _visible(tx, instance_id)
        rows = tx.all("ssh_audit_page", instance_id=instance_id, after_id=after["id"] if after else None,
                      limit=query.limit + 1)
    return Page[SshAuditEntry](**page_of(rows, query.limit, ("id",), SshAuditEntry))


def _cell(value: Any) -> str:
    text = "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_csv(user: User, instance_id: str) -> Iterator[str]:
    """Checks access now (a 404 before any byte is sent), then yields the CSV text batch by batch."""
    with acting_as(user) as tx:
        _visible(tx, instance_id)

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_COLUMNS)
        after: int | None = None
        while True:
            with acting_as(user) as tx:
                batch = tx.all("ssh_audit_page", instance_id=instance_id, after_id=after, limit=CSV_BATCH)
            for r in batch:
                writer.writerow([_cell(r[c]) for c in CSV_COLUMNS])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if len(batch) < CSV_BATCH:
                return
            after = int(batch[-1]["id"])

    return rows()


def purge(days: int = RETENTION_DAYS) -> int:
    """Deletes rows older than `days`, in batches (each its own short transaction); how many went."""
    total = 0
    while True:
        with get_db().service() as tx:
            n = tx.execute("ssh_audit_purge", days=days, batch=PURGE_BATCH)
        total += n
        if n < PURGE_BATCH:
            return total

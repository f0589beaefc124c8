"""The per-instance lock every lifecycle operation holds (ARCHITECTURE §4).

Two layers, for two kinds of caller:
- jobs of one instance share the procrastinate lock `instance:<id>` (`shared.jobs.instance_lock`), so the
  queue hands them out one at a time, in the order they were asked for;
- the work itself runs under a Postgres advisory lock on the same key, which also covers callers
  outside the queue: chat's and relays' synchronous `wake`, the health check's restarts and its
  status sync (`health_sync` skips rows whose lock is held).

The advisory lock is transaction-scoped and held by keeping one pooled connection's transaction open
for the operation; the state changes made meanwhile commit on other connections. Transaction scope
works through Supabase's transaction pooler (a session lock would be lost between statements), and a
holder that dies takes its connection, and so the lock, with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from shared.data import get_db
from shared.data.queries import QUERIES
from shared.lifecycle.errors import InstanceBusy


def _run(conn: object, name: str, **params: object) -> object:
    q = QUERIES[name]
    return conn.execute(q.sql, q.bind(params))  # type: ignore[attr-defined]


@contextmanager
def instance_lock(instance_id: str, *, wait_s: float = 300.0) -> Iterator[None]:
    """Hold the instance's lock for the block; `InstanceBusy` if not obtained within `wait_s`
    (0 = try once, never wait)."""
    from psycopg import errors

    with get_db().connection() as conn:
        try:
            if wait_s <= 0:
                row = _run(conn, "instance_try_lock", id=str(instance_id)).fetchone()  # type: ignore[attr-defined]
                if not row["locked"]:
                    raise InstanceBusy()
            else:
                _run(conn, "lock_timeout_set", timeout=f"{int(wait_s * 1000)}ms")
                try:
                    _run(conn, "instance_lock", id=str(instance_id))
                except errors.LockNotAvailable:
                    raise InstanceBusy() from None
            yield
        finally:
            conn.rollback()  # ends the transaction, which releases the lock

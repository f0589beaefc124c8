"""A job's declaration and the one way to defer it.

A `JobSpec` says everything the queue needs to know about a job — its task name, queue, priority,
the arguments it takes and how its two locks are derived from them — so the defer sites in `shared/`
and the task decorators in `jobs/` read the same object instead of spelling strings twice.

    lock            procrastinate's job lock: jobs holding the same lock run one at a time, in order
    queueing_lock   at most one job with this lock may be waiting (`todo`); a second defer is a no-op

Either lock is a fixed string, a function of the job's arguments, `BY_CALLER` (the defer site must
pass it: it depends on more than the arguments), or None. Deferring is a plain INSERT through the
caller's transaction (named query `job_defer`), so this module never imports procrastinate: API cold
starts stay light, and a job exists iff the rows that need it were committed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Final, Literal

from shared.data import Tx

JobArgs = Mapping[str, Any]


class _Marker(Enum):
    BY_CALLER = "by caller"
    FROM_SPEC = "from spec"


BY_CALLER: Final = _Marker.BY_CALLER
FROM_SPEC: Final = _Marker.FROM_SPEC
LockRule = str | Callable[[JobArgs], str] | Literal[_Marker.BY_CALLER] | None


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A task as a defer sees it: its name, queue, arguments, priority and lock rules."""

    name: str
    queue: str
    args: tuple[str, ...] = ()  # the task's keyword arguments (what a defer may pass)
    priority: int = 0  # higher runs first
    lock: LockRule = None
    queueing_lock: LockRule = None

    @property
    def fixed_lock(self) -> str | None:
        """The lock as the task decorator declares it (procrastinate's own defers, e.g. periodic)."""
        return self.lock if isinstance(self.lock, str) else None

    @property
    def fixed_queueing_lock(self) -> str | None:
        return self.queueing_lock if isinstance(self.queueing_lock, str) else None

    def locks(self, args: JobArgs, *, lock: str | None | _Marker = FROM_SPEC,
              queueing_lock: str | None | _Marker = FROM_SPEC) -> tuple[str | None, str | None]:
        """(lock, queueing lock) of a job with these arguments; `lock`/`queueing_lock` override."""
        unknown = sorted(set(args) - set(self.args))
        if unknown:
            raise TypeError(f"{self.name!r} takes no argument {', '.join(unknown)}")
        return (_derive(self.lock, lock, args, "lock", self.name),
                _derive(self.queueing_lock, queueing_lock, args, "queueing_lock", self.name))


def _derive(rule: LockRule, given: str | None | _Marker, args: JobArgs, what: str, name: str) -> str | None:
    if not isinstance(given, _Marker):
        return given
    if rule is _Marker.BY_CALLER:
        raise TypeError(f"deferring {name!r} needs an explicit {what}")
    if callable(rule):
        return rule(args)
    return rule


def defer(tx: Tx, spec: JobSpec, *, lock: str | None | _Marker = FROM_SPEC,
          queueing_lock: str | None | _Marker = FROM_SPEC, scheduled_at: datetime | None = None,
          **args: Any) -> int | None:
    """Defer `spec` in `tx`; the job id, or None when a job with its queueing lock is already waiting.
    `lock`/`queueing_lock` override what the spec derives (None: no lock)."""
    job_lock, waiting_lock = spec.locks(args, lock=lock, queueing_lock=queueing_lock)
    params = {"queue": spec.queue, "task": spec.name, "priority": spec.priority, "lock": job_lock,
              "queueing_lock": waiting_lock, "args": json.dumps(args, default=str), "scheduled_at": scheduled_at}
    if waiting_lock is None:
        return int(tx.scalar("job_defer", **params))
    from psycopg import errors

    try:
        with tx.savepoint():
            return int(tx.scalar("job_defer", **params))
    except errors.UniqueViolation:
        return None

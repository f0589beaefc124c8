"""The procrastinate app, and the decorators that register tasks under their `shared.jobs` specs.

The connection pool is made when a worker opens the app, from settings (`DATABASE_DIRECT_URL`:
LISTEN/NOTIFY does not pass Supabase's transaction pooler)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar, overload

import procrastinate
from procrastinate import periodic as procrastinate_periodic
from procrastinate.retry import RetryValue
from procrastinate.tasks import Task
from psycopg_pool import AsyncConnectionPool

from shared.jobs import JobSpec
from shared.metrics import JobTimer
from shared.schedules import SCHEDULES, WORKER_SCHEDULES

P = ParamSpec("P")
R = TypeVar("R")

# Modules holding tasks; a worker imports them all so every task name resolves.
TASK_MODULES = ["jobs.lifecycle", "jobs.billing", "jobs.maintenance", "jobs.relays", "jobs.chat", "jobs.security",
                "jobs.platform"]


def conninfo() -> str:
    from shared.config import get_settings

    s = get_settings()
    url = s.DATABASE_DIRECT_URL or s.DATABASE_URL
    if not url:
        raise RuntimeError("DATABASE_URL is not set")
    return url


def _pool(**kwargs: Any) -> AsyncConnectionPool:
    return AsyncConnectionPool(conninfo=conninfo(), **kwargs)


app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(
        pool_factory=_pool, kwargs={"options": "-c search_path=procrastinate,public"}, min_size=1, max_size=10,
    ),
    import_paths=TASK_MODULES,
)


@overload
def task(spec: JobSpec, *, retry: RetryValue = False,
         pass_context: Literal[False] = False) -> Callable[[Callable[P, R]], Task[P, R, P]]: ...


@overload
def task(spec: JobSpec, *, retry: RetryValue = False, pass_context: Literal[True]) -> Callable[
        [Callable[Concatenate[procrastinate.JobContext, P], R]], Task[Concatenate[procrastinate.JobContext, P], R, P]]: ...


def task(spec: JobSpec, *, retry: RetryValue = False, pass_context: bool = False) -> Any:
    """`@app.task` with the name, queue, priority and (fixed) locks of `spec`; locks derived from
    the arguments are set by `shared.jobs.defer`."""
    options: dict[str, Any] = {"name": spec.name, "queue": spec.queue, "priority": spec.priority,
                               "lock": spec.fixed_lock, "queueing_lock": spec.fixed_queueing_lock, "retry": retry}
    register = app.task(pass_context=True, **options) if pass_context else app.task(**options)

    def decorate(fn: Callable[..., Any]) -> Any:
        return register(_timed(spec.name, fn))

    return decorate


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` recording its run time and failures in the worker's metrics (shared.metrics)."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with JobTimer(name):
                return await fn(*args, **kwargs)
        return run_async

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with JobTimer(name):
            return fn(*args, **kwargs)
    return run


def periodic(name: str) -> Callable[[Task[P, R, Concatenate[int, procrastinate_periodic.Args]]],
                                    Task[P, R, procrastinate_periodic.Args]]:
    """Run the task on its schedule (`shared.schedules`), which must name this very task."""
    schedule = SCHEDULES.get(name) or WORKER_SCHEDULES[name]
    register = app.periodic(cron=schedule.cron, periodic_id=name)

    def checked(t: Task[P, R, Concatenate[int, procrastinate_periodic.Args]]) -> Task[P, R, procrastinate_periodic.Args]:
        if t.name != schedule.task:
            raise ValueError(f"schedule {name!r} runs {schedule.task!r}, not {t.name!r}")
        return register(t)

    return checked

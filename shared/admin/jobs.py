"""An instance's jobs, and re-running or cancelling one, through procrastinate's JobManager.

procrastinate retries only a job that is still `doing` (a stalled one: its worker died); a job that
already `failed`, was `cancelled` or `aborted` is re-run as a fresh copy — same task, queue, priority,
locks and arguments — so its history stays as it was. A `doing` job is cancelled by asking it to abort
(its task sees the request at its next check); a `todo` one is cancelled outright.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel

from shared.admin import AdminError, audited
from shared.data import get_db


class JobLine(BaseModel):
    id: int
    task: str
    queue: str
    status: str
    lock: str | None
    attempts: int
    scheduled_at: dt.datetime | None
    args: dict[str, Any]


class JobAction(BaseModel):
    action: Literal["retried", "rerun", "cancelled", "abort_requested"]
    job: JobLine
    new_job_id: int | None = None


def _manager_app() -> Any:
    """A procrastinate App for management calls only (no tasks), on the same database as the workers."""
    import procrastinate

    from shared.config import get_settings

    s = get_settings()
    url = s.DATABASE_DIRECT_URL or s.DATABASE_URL
    if not url:
        raise AdminError("DATABASE_URL is not set")
    return procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=url, kwargs={"options": "-c search_path=procrastinate,public"}, min_size=1, max_size=2))


def _with_manager[T](work: Callable[[Any], Awaitable[T]]) -> T:
    async def run() -> T:
        app = _manager_app()
        async with app.open_async():
            return await work(app.job_manager)

    return asyncio.run(run())


def _status(job: Any) -> str:
    return str(getattr(job.status, "value", job.status))  # an enum from the manager, text from SQL


def _line(job: Any) -> JobLine:
    return JobLine(id=job.id, task=job.task_name, queue=job.queue, status=_status(job), lock=job.lock,
                   attempts=job.attempts, scheduled_at=job.scheduled_at, args=dict(job.task_kwargs or {}))


async def _get(manager: Any, job_id: int) -> Any:
    found = await manager.list_jobs_async(id=job_id)
    if not found:
        raise AdminError(f"no job {job_id}")
    return found[0]


def list_jobs(*, job_id: int | None = None, instance_id: str | None = None) -> list[JobLine]:
    ids: list[int] | None = None
    if instance_id is not None:
        with get_db().service() as tx:
            ids = [int(r["id"]) for r in tx.all("admin_instance_jobs", instance_id=str(instance_id))]

    async def work(manager: Any) -> list[JobLine]:
        if job_id is not None:
            return [_line(await _get(manager, job_id))]
        out: list[JobLine] = []
        for i in ids or []:
            out.extend(_line(j) for j in await manager.list_jobs_async(id=i))
        return out

    return _with_manager(work)


def _audit(action: JobAction) -> None:
    with get_db().service() as tx:
        audited(tx, None, f"job_{action.action}", f"job:{action.job.id}", task=action.job.task,
                instance_id=action.job.args.get("instance_id"), new_job_id=action.new_job_id)


def retry(job_id: int) -> JobAction:
    async def work(manager: Any) -> JobAction:
        from procrastinate.jobs import Job

        job = await _get(manager, job_id)
        status = _status(job)
        if status == "doing":
            await manager.retry_job_by_id_async(job_id, retry_at=dt.datetime.now(dt.UTC))
            return JobAction(action="retried", job=_line(job))
        if status in ("failed", "cancelled", "aborted"):
            copy = Job(id=None, queue=job.queue, priority=job.priority, lock=job.lock,
                       queueing_lock=job.queueing_lock, task_name=job.task_name, task_kwargs=job.task_kwargs)
            new = await manager.defer_job_async(copy)
            return JobAction(action="rerun", job=_line(job), new_job_id=new.id)
        raise AdminError(f"job {job_id} is {status}: nothing to retry")

    action = _with_manager(work)
    _audit(action)
    return action


def cancel(job_id: int) -> JobAction:
    async def work(manager: Any) -> JobAction:
        job = await _get(manager, job_id)
        status = _status(job)
        if status not in ("todo", "doing"):
            raise AdminError(f"job {job_id} is {status}: nothing to cancel")
        if not await manager.cancel_job_by_id_async(job_id, abort=status == "doing"):
            raise AdminError(f"job {job_id} changed while cancelling it; look again")
        return JobAction(action="cancelled" if status == "todo" else "abort_requested", job=_line(job))

    action = _with_manager(work)
    _audit(action)
    return action

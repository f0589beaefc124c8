"""`openagents worker`: runs jobs until stopped (SIGINT/SIGTERM finish the running jobs first)."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from shared import logs

# Threads beyond the job slots, for the little else the loop hands to its executor (psycopg's async
# connect resolves host names there): never queued behind long jobs.
SPARE_THREADS = 4


def size_executor(concurrency: int) -> None:
    """Give the running loop a default executor with a thread per job slot. procrastinate runs sync
    tasks there, and asyncio sizes it by CPUs (min(32, CPUs + 4): 5 threads on a 1-vCPU Fly machine,
    6 on 2 cores), not by `concurrency`: a worker with more slots than that ran only that many jobs at
    once, and the rest waited while their slots looked busy (jobs here mostly wait on Fly or the agent,
    not the CPU)."""
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=concurrency + SPARE_THREADS, thread_name_prefix="job"))


def run(concurrency: int = 4, *, wait: bool = True, queues: list[str] | None = None) -> int:
    from shared.config import get_settings

    settings = get_settings()
    logs.configure(settings.LOG_LEVEL)
    logs.register_secrets(settings.secret_values())
    from jobs.app import app
    from jobs.maintenance import recover_stalled_jobs

    logging.getLogger("openagents.worker").info("worker starting (concurrency=%s)", concurrency)
    if settings.METRICS_PORT:
        from shared import metrics

        metrics.serve(settings.METRICS_PORT)

    async def work() -> None:
        size_executor(concurrency)
        # One open app (its async pool from DATABASE_DIRECT_URL/DATABASE_URL) for both: opening it
        # synchronously as well would build a second, sync pool without that conninfo.
        async with app.open_async():
            # Jobs a killed worker left `doing` go back to the queue now, not at the next minute's sweep.
            await recover_stalled_jobs(app)
            await app.run_worker_async(concurrency=concurrency, wait=wait, queues=queues,  # type: ignore[arg-type]  # None: every queue
                                       install_signal_handlers=wait, listen_notify=True,
                                       delete_jobs="successful", update_heartbeat_interval=settings.WORKER_HEARTBEAT_S,
                                       stalled_worker_timeout=settings.WORKER_STALLED_AFTER_S)

    asyncio.run(work())
    return 0

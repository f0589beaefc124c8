"""`openagents worker`: runs jobs until stopped (SIGINT/SIGTERM finish the running jobs first)."""

from __future__ import annotations

import asyncio
import logging

from shared import logs


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

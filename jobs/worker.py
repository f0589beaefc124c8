"""`openagents worker`: runs jobs until stopped (SIGINT/SIGTERM finish the running jobs first)."""

from __future__ import annotations

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
    # Jobs a killed worker left `doing` go back to the queue now, not at the next minute's sweep.
    recover_stalled_jobs()
    # run_worker opens the app itself (async pool from DATABASE_DIRECT_URL/DATABASE_URL); opening it
    # synchronously first would build a second, sync pool without that conninfo.
    app.run_worker(concurrency=concurrency, wait=wait, queues=queues, install_signal_handlers=wait,
                   listen_notify=True, delete_jobs="successful",
                   update_heartbeat_interval=settings.WORKER_HEARTBEAT_S,
                   stalled_worker_timeout=settings.WORKER_STALLED_AFTER_S)
    return 0

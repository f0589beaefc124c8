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

    logging.getLogger("openagents.worker").info("worker starting (concurrency=%s)", concurrency)
    with app.open():
        app.run_worker(concurrency=concurrency, wait=wait, queues=queues, install_signal_handlers=wait,
                       listen_notify=True, delete_jobs="successful")
    return 0

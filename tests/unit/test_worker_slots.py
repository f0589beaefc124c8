"""A worker runs as many sync jobs at once as it has slots, whatever the machine's CPU count."""

from __future__ import annotations

import asyncio
import threading

from procrastinate import utils

from jobs.worker import size_executor


def _peak_at_once(slots: int, *, sized: bool) -> int:
    """Starts `slots` blocking calls the way procrastinate runs a sync task; how many overlapped.

    Each call holds its thread until all `slots` are running at once (or a deadline passes), so a slow
    machine starting threads late cannot make the calls miss each other."""
    lock = threading.Lock()
    all_in = threading.Event()
    running = peak = 0

    def job() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            if running == slots:
                all_in.set()
        all_in.wait(timeout=10 if sized else 0.2)
        with lock:
            running -= 1

    async def main() -> None:
        if sized:
            size_executor(slots)
        await asyncio.gather(*(utils.sync_to_async(job) for _ in range(slots)))

    asyncio.run(main())
    return peak


def test_every_slot_runs_at_once() -> None:
    slots = 40  # more than asyncio's default executor has threads on any machine (at most 32)
    assert _peak_at_once(slots, sized=True) == slots
    assert _peak_at_once(slots, sized=False) < slots  # what the worker did before

"""A health-check sweep as the workers run it, for tests: the `health_check` sweep, then its
`health_probe` jobs run by the real worker (a lifecycle test env's `drain`), and the sweep's result
with the probe jobs' figures added (read from their "health probe" log records, since the queue keeps
no results).

Each call is a sweep of its own period (a timestamp one period past the last), as successive
scheduled sweeps are; pass `timestamp` to repeat one period.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

from shared.lifecycle.health import PAGE, PERIOD_S, ProbeResult, SweepResult

_periods = itertools.count(int(time.time() // PERIOD_S))


class _Probes(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.results: list[ProbeResult] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "health probe":
            self.results.append(ProbeResult(**getattr(record, "fields", {})))


def next_timestamp() -> float:
    return float(next(_periods) * PERIOD_S)


def sweep_only(instance_ids: list[str], *, page_size: int = PAGE, timestamp: float | None = None) -> SweepResult:
    from shared.lifecycle.health import health_check

    return health_check(instance_ids=instance_ids, page_size=page_size,
                        timestamp=next_timestamp() if timestamp is None else timestamp)


def probes_run(env: Any, instance_ids: list[str]) -> list[ProbeResult]:
    """Run the waiting lifecycle jobs (the probes among them); the probe jobs' results."""
    logger = logging.getLogger("openagents.lifecycle.health")
    handler, level = _Probes(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        env.drain(instance_ids=instance_ids)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return handler.results


def swept(env: Any, instance_ids: list[str], *, page_size: int = PAGE, timestamp: float | None = None) -> SweepResult:
    result = sweep_only(instance_ids, page_size=page_size, timestamp=timestamp)
    for probe in probes_run(env, instance_ids):
        result.add(probe)
    return result

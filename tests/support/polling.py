"""Waiting in tests for something another process or thread makes true."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 60.0, *, every: float = 0.2, what: str = "") -> T:
    """Calls `check` until it returns something truthy, and returns that; fails the test after `timeout` s
    (naming `what` it waited for)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}" if what else f"not reached within {timeout} s"
        time.sleep(every)

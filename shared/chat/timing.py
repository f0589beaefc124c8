"""Timestamps of a web turn on its way to the first token, for `openagents bench stream` (issue 14:
where the added milliseconds go). Off unless a sink is installed (the benchmark's API process does
it, `devstack.serve`); then each turn's marks go to the sink once its first token is written.

Marks are `time.perf_counter()` readings: CLOCK_MONOTONIC on Linux, one clock for every process on
the machine, so the benchmark lines them up with its own and the emulated edge's.

    received   the route's handler starts (authenticated, body parsed)
    opened     the turn is open: instance, hold, lease, messages written
    target     how to reach the machine is known (cached or read)
    upstream   the bridge's response headers arrived (stream token, gateway hop, replay)
    token_in   the first token event came off the upstream stream
    token_out  its frame was written to the client
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

Sink = Callable[[str, dict[str, float]], None]

_sink: Sink | None = None


def install(sink: Sink | None) -> None:
    global _sink
    _sink = sink


def file_sink(path: str) -> Sink:
    """A sink appending one JSON line per turn to `path`."""
    lock = threading.Lock()

    def write(turn_id: str, marks: dict[str, float]) -> None:
        line = json.dumps({"turn_id": turn_id, "marks": marks}) + "\n"
        with lock, open(path, "a", encoding="utf-8") as f:
            f.write(line)

    return write


class TurnTrace:
    """One turn's marks; every method is a no-op without a sink (one attribute test)."""

    __slots__ = ("marks", "_done")

    def __init__(self) -> None:
        self.marks: dict[str, float] | None = {"received": time.perf_counter()} if _sink is not None else None
        self._done = False

    def mark(self, name: str) -> None:
        if self.marks is not None and name not in self.marks:
            self.marks[name] = time.perf_counter()

    def first_token_written(self, turn_id: str) -> None:
        if self.marks is None or self._done:
            return
        self._done = True
        self.mark("token_out")
        sink = _sink
        if sink is not None:
            sink(turn_id, self.marks)

"""What the bot does when its gateway connection ends — a pure class, tested without a gateway.

discord.py resumes a dropped session by itself (`reconnect=True`); what reaches this policy is what
the library gives up on: a close code it does not handle, a failed login, the network gone for good.

    close code                                      action
    4004 auth failed, 4010 shard, 4011 sharding,
    4012 API version, 4013 invalid intents,
    4014 disallowed intents                         stop: retrying cannot help (the operator must act)
    4007 invalid seq, 4009 session timed out        identify: a new session
    any other code (4000–4003, 4005, 4008, 1000,
    1001), or none (network), with a session        resume
    without a session                               identify

Delays are exponential with full jitter (base × 2^attempt, capped), reset once a session is ready.
IDENTIFY is rationed: Discord allows 1,000 a day and resets the token past that, so when the day's
budget is spent the next identify waits until the oldest one leaves the 24-hour window.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

FATAL = {4004: "authentication failed", 4010: "invalid shard", 4011: "sharding required",
         4012: "invalid API version", 4013: "invalid intents", 4014: "disallowed intents"}
NEW_SESSION = frozenset({4007, 4009})
DAY_S = 24 * 3600.0

Action = Literal["resume", "identify", "stop"]


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    delay_s: float
    reason: str


class ReconnectPolicy:
    def __init__(self, *, base_s: float = 1.0, cap_s: float = 60.0, identify_budget: int = 900,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.identify_budget = identify_budget
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)
        self.clock = clock
        self.attempt = 0
        self._identifies: deque[float] = deque()

    def on_ready(self) -> None:
        """A session is up: the next failure starts the backoff from the beginning."""
        self.attempt = 0

    def on_identify(self) -> None:
        self._identifies.append(self.clock())

    def identifies_today(self) -> int:
        now = self.clock()
        while self._identifies and now - self._identifies[0] >= DAY_S:
            self._identifies.popleft()
        return len(self._identifies)

    def _backoff(self) -> float:
        ceiling = min(self.cap_s, self.base_s * (2 ** self.attempt))
        self.attempt += 1
        return self.rng.uniform(0, ceiling)

    def on_close(self, code: int | None, *, has_session: bool) -> Decision:
        if code in FATAL:
            return Decision("stop", 0.0, f"close code {code}: {FATAL[code]}")
        delay = self._backoff()
        if code in NEW_SESSION or not has_session:
            if self.identifies_today() >= self.identify_budget:
                wait = DAY_S - (self.clock() - self._identifies[0])
                return Decision("identify", max(delay, wait), "identify budget for the day spent: waiting")
            why = f"close code {code}: the session cannot be resumed" if code in NEW_SESSION else "no session to resume"
            return Decision("identify", delay, why)
        return Decision("resume", delay, f"close code {code}" if code is not None else "connection lost")

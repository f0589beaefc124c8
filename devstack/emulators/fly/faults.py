"""Fault injection for the emulator: the failures real Fly produces, on demand and reproducibly.

Every switch is a rule with `count` (fail the next N matching requests — exact, for tests) and/or
`probability` (drawn from one `random.Random(seed)`, so a run with the same seed and the same request
order fails the same way). `ops` limits a rule to operation names (see `api.OPS`); None means all.

    rate_limit    429 with `Retry-After: retry_after`
    server_error  `status` (500 by default)
    timeout       408; with `perform` (a probability, True = 1.0) a create/mutation is carried out and
                  *still* answered 408 — Fly's ambiguous timeout
    capacity      422 `{"status": "insufficient_capacity"}` on machine (and volume) creates, optionally
                  only for `regions`
    slow_start    `delay_s` spent in `starting` before a machine is `started`
    crash         a started machine's process dies `after_s` later with `exit_code`

Set them in code (`FaultInjector.update({...})`) or over HTTP: `POST /_emulator/faults` with the same
JSON (merged into the current settings; `"reset": true` starts from defaults), `GET` shows settings and
how often each fired, `DELETE` resets.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probability: float = Field(default=0.0, ge=0.0, le=1.0)
    count: int = Field(default=0, ge=0)
    ops: list[str] | None = None


class ErrorRule(Rule):
    status: int = 500
    retry_after: float | None = None


class TimeoutRule(Rule):
    perform: float = Field(default=0.0, ge=0.0, le=1.0)

    @field_validator("perform", mode="before")
    @classmethod
    def _bool_is_certainty(cls, v: Any) -> Any:
        return float(v) if isinstance(v, bool) else v


class CapacityRule(Rule):
    ops: list[str] | None = Field(default_factory=lambda: ["create_machine"])
    regions: list[str] | None = None


class SlowStartRule(Rule):
    delay_s: float = Field(default=0.0, ge=0.0)


class CrashRule(Rule):
    after_s: float = Field(default=0.05, ge=0.0)
    exit_code: int = 1


class FaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int | None = None
    rate_limit: ErrorRule = Field(default_factory=lambda: ErrorRule(status=429, retry_after=0.05))
    server_error: ErrorRule = Field(default_factory=ErrorRule)
    timeout: TimeoutRule = Field(default_factory=TimeoutRule)
    capacity: CapacityRule = Field(default_factory=CapacityRule)
    slow_start: SlowStartRule = Field(default_factory=SlowStartRule)
    crash: CrashRule = Field(default_factory=CrashRule)


RULES = ("rate_limit", "server_error", "timeout", "capacity", "slow_start", "crash")


@dataclass(frozen=True)
class ApiFault:
    kind: str  # "rate_limit" | "server_error" | "timeout"
    status: int
    message: str
    retry_after: float | None = None
    perform: bool = False  # do the work, then answer with the fault anyway


class FaultInjector:
    """Thread-safe: tests change faults from their thread while the emulator's loop reads them."""

    def __init__(self, config: FaultConfig | dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._rng = random.Random()  # noqa: S311 - reproducible faults need a seedable PRNG, not secrecy
        self.fired: dict[str, int] = dict.fromkeys(RULES, 0)
        self.update(config or {}, reset=True)

    # --- configuration --------------------------------------------------------------------------

    def update(self, patch: FaultConfig | dict[str, Any], *, reset: bool = False) -> FaultConfig:
        data = patch.model_dump(exclude_unset=True) if isinstance(patch, FaultConfig) else dict(patch)
        reset = reset or bool(data.pop("reset", False))
        with self._lock:
            base = {} if reset else self._config.model_dump()
            for key, value in data.items():
                if key in RULES and isinstance(value, dict) and isinstance(base.get(key), dict):
                    base[key] = {**base[key], **value}
                else:
                    base[key] = value
            self._config = FaultConfig.model_validate(base)
            if reset or "seed" in data:
                self._rng = random.Random(self._config.seed)  # noqa: S311 - see above
            if reset:
                self.fired = dict.fromkeys(RULES, 0)
            return self._config

    def reset(self) -> None:
        self.update({}, reset=True)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"config": self._config.model_dump(), "fired": dict(self.fired)}

    # --- decisions ------------------------------------------------------------------------------

    def _fire(self, name: str, rule: Rule, op: str | None) -> bool:
        # Caller holds the lock. `count` is consumed before `probability` is drawn.
        if op is not None and rule.ops is not None and op not in rule.ops:
            return False
        if rule.count > 0:
            rule.count -= 1
            self.fired[name] += 1
            return True
        if rule.probability > 0 and self._rng.random() < rule.probability:
            self.fired[name] += 1
            return True
        return False

    def api_fault(self, op: str) -> ApiFault | None:
        with self._lock:
            c = self._config
            if self._fire("rate_limit", c.rate_limit, op):
                return ApiFault("rate_limit", 429, "rate limit exceeded (emulated)", retry_after=c.rate_limit.retry_after)
            if self._fire("server_error", c.server_error, op):
                return ApiFault("server_error", c.server_error.status, "internal error (emulated)")
            if self._fire("timeout", c.timeout, op):
                perform = c.timeout.perform > 0 and self._rng.random() < c.timeout.perform
                return ApiFault("timeout", 408, "deadline exceeded (emulated)", perform=perform)
            return None

    def capacity(self, op: str, region: str) -> bool:
        with self._lock:
            rule = self._config.capacity
            if rule.regions is not None and region not in rule.regions:
                return False
            return self._fire("capacity", rule, op)

    def start_delay(self) -> float:
        with self._lock:
            rule = self._config.slow_start
            return rule.delay_s if rule.delay_s > 0 and self._fire("slow_start", rule, None) else 0.0

    def crash(self) -> tuple[float, int] | None:
        """(after_s, exit_code) if the machine that just started should crash."""
        with self._lock:
            rule = self._config.crash
            return (rule.after_s, rule.exit_code) if self._fire("crash", rule, None) else None

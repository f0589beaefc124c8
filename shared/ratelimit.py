"""Rate limits that hold across serverless instances: the state is in Postgres (`rate_limits`, one
atomic fixed-window increment in `private.rate_limit_hit`), since functions share no memory.

A route opts in by declaring its limit (`shared.web.routes`: `rate_limit=RateLimit("chat", 120)`);
the declaration counts each request against `<name>:<subject>` and answers 429 with `Retry-After`
once the window is full. The subject is the signed-in user, else what the rule's `key` picks from
the request (a body field, the calling instance), else the client's address. `RATE_LIMITS` (JSON,
`{"chat": {"limit": 300, "window_s": 60}}`) overrides a declared limit; a limit of 0 turns it off.

Fixed windows let a client make up to twice the limit across a window boundary; that is the price of
one upsert per request, and the limits here are abuse guards, not quotas.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, NamedTuple

from pydantic import ConfigDict, Field

from shared.models import Model
from shared.problems import Problem, too_many_requests

# (the request context, the parsed body or None) → the subject, or None for the default subject.
KeyFunction = Callable[[Any, Any], str | None]


# A named tuple, not a frozen dataclass: as immutable, read the same way, and ~1 ms less of every cold start.
class RateLimit(NamedTuple):
    """A route's declared limit: `limit` requests per `window_s` seconds per subject."""

    name: str
    limit: int
    window_s: int = 60
    key: KeyFunction | None = None
    # Answers a refusal in the caller's own dialect (the LLM proxy's provider-shaped errors).
    refusal: Callable[[int], Problem] | None = None

    @property
    def reads_body(self) -> bool:
        """A key that looks at the body is counted after the body is parsed."""
        return self.key is not None


class _Override(Model):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(ge=0)
    window_s: int = Field(default=60, ge=1, le=86_400)


@functools.cache
def _overrides(raw: str | None) -> dict[str, _Override]:
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("RATE_LIMITS must be a JSON object of {name: {limit, window_s}}")
    return {str(k): _Override.model_validate(v) for k, v in data.items()}


def effective(rule: RateLimit) -> tuple[int, int]:
    """The (limit, window) that applies to a rule now: the declaration unless RATE_LIMITS says otherwise."""
    from shared.config import get_settings

    o = _overrides(get_settings().RATE_LIMITS).get(rule.name)
    return (o.limit, o.window_s) if o is not None else (rule.limit, rule.window_s)


def hit(key: str, window_s: int) -> tuple[int, int]:
    """Counts one hit for `key`; the hits in the current window (this one included) and the
    seconds until the window ends."""
    from shared.data import get_db

    with get_db().service() as tx:
        row = tx.one("rate_limit_hit", key=key, window_s=window_s)
    assert row is not None
    return int(row["count"]), int(row["reset_in"])


def check(key: str, limit: int, window_s: int, refusal: Callable[[int], Problem] | None = None) -> None:
    """Counts one hit for `key`; raises a 429 problem once more than `limit` hits fall in the window."""
    count, reset_in = hit(key, window_s)
    if count > limit:
        raise (refusal or too_many_requests)(max(1, reset_in))


def enforce(rule: RateLimit, subject: str) -> None:
    limit, window_s = effective(rule)
    if limit <= 0:
        return
    check(key_of(rule, subject), limit, window_s, rule.refusal)


def key_of(rule: RateLimit, subject: str) -> str:
    """The key a rule counts `subject` under."""
    return f"{rule.name}:{subject}"


def refusal_of(rule: RateLimit, reset_in: int) -> Problem:
    """The 429 a rule answers once its window is full, `reset_in` seconds before the window ends (a
    count made elsewhere: the chat turn's opening counts its route's limit itself)."""
    return (rule.refusal or too_many_requests)(max(1, reset_in))


def client_address() -> str:
    """The caller's address as the edge reports it (Vercel sets `x-real-ip` / `x-forwarded-for`)."""
    from flask import request

    forwarded = request.headers.get("X-Real-IP") or request.headers.get("X-Forwarded-For", "").split(",")[0]
    return forwarded.strip()[:64] or request.remote_addr or "unknown"


def first_once(key: str, window_s: int) -> bool:
    """True for the first call with `key` in the current window (a notice sent once per window)."""
    count, _ = hit(key, window_s)
    return count == 1


def prune(older_than_s: int = 2 * 86_400) -> int:
    from shared.data import get_db

    with get_db().service() as tx:
        return tx.execute("rate_limit_prune", older_than_s=older_than_s)


# The declared limits, by name (RATE_LIMITS overrides them). Generous: they stop floods, not use.
CHAT = RateLimit("chat", 120)  # POST /api/chat/stream, per user
HIRE = RateLimit("hire", 60)  # POST /api/instances, per user
KEYS = RateLimit("keys", 30)  # PUT/DELETE /api/keys/{provider}, per user
DEV_SIGN_IN = 30  # POST /api/dev/sign-in, per e-mail (the route's key)
LLM_PROXY = 600  # /llm/v1/*, per instance (the proxy's key and its provider-shaped refusal)
RELAY_INTAKE = RateLimit("relay-intake", 3000)  # /functions/v1/* once verified, per sending address

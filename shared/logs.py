"""Structured JSON logs with request/job ids and secret redaction.

Redaction is by value (every configured secret) and by shape (bearer tokens, Stripe/Slack keys,
JWTs), so a secret that slips into a message or an exception text is still masked.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import re
import sys
import time
from typing import Any

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

_SHAPES_PATTERN = (
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(sk|rk|pk)_(live|test)_[A-Za-z0-9]{8,}"
    r"|\bwhsec_[A-Za-z0-9+/=]{8,}"
    r"|\bxox[abpr]-[A-Za-z0-9-]{8,}"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
)
# Log lines are JSON with non-ASCII escaped, so the text is nearly always ASCII. Over ASCII text
# without the separators \x1c-\x1f (which Unicode counts as whitespace) the pattern matches exactly
# what it matches compiled with re.ASCII, and that compiles in a quarter of the time: case-insensitive
# Unicode classes are costly to build (~2 ms of every cold start). Other text gets the Unicode pattern,
# compiled when first needed.
_SHAPES_ASCII = re.compile(_SHAPES_PATTERN, re.ASCII)
_UNICODE_ONLY_SPACE = "\x1c\x1d\x1e\x1f"


@functools.cache
def _shapes_unicode() -> re.Pattern[str]:
    return re.compile(_SHAPES_PATTERN)


def _shapes(text: str) -> re.Pattern[str]:
    if text.isascii() and not any(c in text for c in _UNICODE_ONLY_SPACE):
        return _SHAPES_ASCII
    return _shapes_unicode()
_secret_values: list[str] = []
REDACTED = "[REDACTED]"


def register_secrets(values: list[str]) -> None:
    """Values that must never appear in a log line (longest first, so overlaps mask fully)."""
    for v in values:
        if v and len(v) >= 6 and v not in _secret_values:
            _secret_values.append(v)
    _secret_values.sort(key=len, reverse=True)


def redact(text: str) -> str:
    for v in _secret_values:
        if v in text:
            text = text.replace(v, REDACTED)
    return _shapes(text).sub(lambda m: (m.group(1) or "") + REDACTED, text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if rid := request_id.get():
            entry["request_id"] = rid
        if jid := job_id.get():
            entry["job_id"] = jid
        extra = getattr(record, "fields", None)
        if extra:
            entry.update(extra)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


_configured = False


def configure(level: str = "INFO") -> None:
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Noisy libraries: their own request logs would duplicate ours.
    for name in ("werkzeug", "httpx", "httpcore", "stripe", "procrastinate"):
        logging.getLogger(name).setLevel(logging.WARNING)
    _configured = True


def log(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    logger.log(level, msg, extra={"fields": fields})


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def ms(self) -> float:
        return round((time.perf_counter() - self.start) * 1000, 2)

"""The platform modules by relay name, and what the processing job needs of each.

A platform module (`telegram`, `slack`, `whatsapp`, `discord`) provides:

    LIMIT                       characters per message part
    TYPING_EVERY_S              how often to re-send the typing indicator (None: once)
    incoming(payload)           the recorded update as an `Incoming`, or None when there is nothing to answer
    outgoing(msg, parts)        the platform call of each part, as stored in the outbox
    deliver(payload)            make one stored call; raises `RateLimited` / `SendRefused` / `OutsideWindow`
    resend_safe(payload)        whether the platform deduplicates that call (a part in doubt may be re-sent)
    typing(msg)                 the typing indicator, or no such function
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from shared.relays.models import RELAYS


def platform(relay: str) -> ModuleType:
    if relay not in RELAYS:
        raise ValueError(f"unknown relay {relay!r}")
    return importlib.import_module(f"shared.relays.{relay}")


class ModuleSender:
    """A platform module as the outbox's `Sender`."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def deliver(self, payload: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.module.deliver(payload)
        return result

    def resend_safe(self, payload: dict[str, Any]) -> bool:
        return bool(self.module.resend_safe(payload))

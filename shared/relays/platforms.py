"""The platform modules by relay name, and what the processing job needs of each.

A platform module (`telegram`, `slack`, `whatsapp`, `discord`) provides:

    LIMIT                       characters per message part
    TYPING_EVERY_S              how often to re-send the typing indicator (None: once)
    incoming(payload)           the recorded update as an `Incoming`, or None when there is nothing to answer
    outgoing(msg, parts)        the platform call of each part, as stored in the outbox
    prepare(payload, key)       everything before the wire (client, request, encoding); returns the send
                                itself, which raises `RateLimited` / `SendRefused` / `OutsideWindow`
    deliver(payload)            prepare and send at once (no outbox key)
    resend_safe(payload)        whether the platform deduplicates that call (a part in doubt may be re-sent)
    resolve(doubt)              optional: settle a part in doubt by asking the platform (`Verdict`);
                                without it, `resend_safe` decides between re-sending and giving up
    typing(msg)                 the typing indicator, or no such function
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from shared.relays.models import RELAYS, Doubt, Verdict


def platform(relay: str) -> ModuleType:
    if relay not in RELAYS:
        raise ValueError(f"unknown relay {relay!r}")
    return importlib.import_module(f"shared.relays.{relay}")


class ModuleSender:
    """A platform module as the outbox's `Sender`."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def prepare(self, payload: dict[str, Any], key: str) -> Callable[[], dict[str, Any]]:
        send: Callable[[], dict[str, Any]] = self.module.prepare(payload, key)
        return send

    def resolve(self, doubt: Doubt) -> Verdict:
        resolve = getattr(self.module, "resolve", None)
        if resolve is not None:
            verdict: Verdict = resolve(doubt)
            return verdict
        if self.module.resend_safe(doubt.payload):
            return Verdict("resend", why="the platform deduplicates this send")
        return Verdict("unknown", why="the platform cannot deduplicate it or say whether it arrived")

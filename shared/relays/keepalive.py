"""The typing indicator, kept alive while the agent works (waking it included).

Telegram's `typing` lasts ≤ 5 s (re-sent every 4 s), Discord's 10 s (every 8 s); WhatsApp's lasts until
the reply or 25 s and is sent once; Slack has none for bots. A failed indicator is logged and never
fails the reply.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("openagents.relays")


@contextmanager
def typing(send: Callable[[], None] | None, every_s: float | None) -> Iterator[None]:
    """Sends the indicator now and every `every_s` seconds (once when None) until the block ends."""
    if send is None:
        yield
        return
    stop = threading.Event()

    def once() -> bool:
        try:
            send()
            return True
        except Exception as exc:  # an indicator is a courtesy: it never fails the reply
            log.warning("typing indicator failed: %s", type(exc).__name__)
            return False

    def loop() -> None:
        while once() and every_s is not None and not stop.wait(every_s):
            pass

    thread = threading.Thread(target=loop, name="relay-typing", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)

"""A warm-pool unit's warm-up turn (issue 14 item 3a: hire → first token < 1 s).

OpenClaw does much of its setup lazily on its first turn (session store, tool catalogue, system
prompt, the model client): measured 9.7 s to the first token of a hire's first turn against 0.64 s
for its second. So a unit gets one turn through its bridge after the bridge is ready and before it
is suspended; the suspend keeps what that turn set up. Its model calls carry the unclaimed unit's
proxy token, which the LLM proxy answers itself with a fixed reply, free (`shared.llm.warmup`).

Both runtimes get it: one path to build and test, and on the offline runtime it costs one token.

The turn runs in a session of its own (`SESSION_KEY`): the hirer's chats use `web:<session id>` and
channels their own prefixes, so no conversation of theirs ever continues it, and the bridge's files
API shows only the workspace, never OpenClaw's session store.

Best effort: a warm-up that fails or times out is logged and the unit is suspended all the same (a
cold first turn is slower, not wrong).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from shared import logs
from shared.bridge import protocol
from shared.bridge.target import MachineTarget

log = logging.getLogger("openagents.lifecycle.warm_pool")

SESSION_KEY = "openagents-warm-up"
# TOKENS=1 keeps the offline runtime's answer to one token; OpenClaw passes the text to the model.
MESSAGE = "Warm-up turn before this agent is hired: reply with OK. TOKENS=1"
CHANNEL = "web"


@dataclass(frozen=True, slots=True)
class WarmUp:
    outcome: str  # done, error, timeout, skipped, failed
    seconds: float
    tokens: int = 0


def warm_up(unit_id: str, app: str, machine_id: str, gateway_token: str, deadline_s: float) -> WarmUp:
    """One turn through the unit's bridge, read to its end (or `deadline_s` seconds)."""
    from shared.bridge.client import BridgeError, BridgeNotConfigured, bridge_client

    target = MachineTarget(f"pool-{unit_id}", app, machine_id, gateway_token)
    started = time.monotonic()
    outcome, tokens = "timeout", 0
    try:
        with bridge_client().turn(target, turn_id=str(uuid.uuid4()), session_key=SESSION_KEY, message=MESSAGE,
                                  channel=CHANNEL) as events:
            for ev in events:  # heartbeat comments come every 15 s, so the deadline is seen while waiting
                if isinstance(ev, protocol.Event):
                    if ev.event == protocol.TOKEN:
                        tokens += 1
                    elif ev.event in protocol.TERMINAL:
                        outcome = ev.event
                        break
                if time.monotonic() - started > deadline_s:
                    break
    except BridgeNotConfigured:
        outcome = "skipped"  # no SSE gateway (a platform without chat): nothing could use the warm-up anyway
    except BridgeError as exc:
        logs.log(log, logging.WARNING, "warm-pool unit warm-up failed; suspending it cold", unit_id=unit_id,
                 error=type(exc).__name__, status=exc.status, detail=exc.detail[:200])
        outcome = "failed"
    result = WarmUp(outcome, round(time.monotonic() - started, 3), tokens)
    logs.log(log, logging.INFO, "warm-pool unit warmed up", unit_id=unit_id, fly_app=app, outcome=result.outcome,
             seconds=result.seconds, tokens=result.tokens)
    return result

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

On OpenClaw the unit is then left running `SETTLE_S` more before the suspend. The gateway defers its
own post-ready work (a dashboard-data prewarm, the context-window cache) to idle tasks retried every
250 ms while a turn runs, and a finished turn leaves a SQLite maintenance pass in a worker thread (~1.5 s
on two loaded cores): suspended at once, all of it ran on the resume, beside the hire's first turn
(traced: 0.18 s of the gateway's CPU at the start of that turn).

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
# OpenClaw's deferred work after the warm-up turn, traced: 0.2 s on its main thread, and the maintenance
# pass took 1.5 s in its worker on two loaded cores; this covers both with room for load.
SETTLE_S = 3.0


@dataclass(frozen=True, slots=True)
class WarmUp:
    outcome: str  # done, error, timeout, skipped, failed
    seconds: float
    tokens: int = 0
    settled_s: float = 0.0  # how long the unit was left running after its turn (OpenClaw only)


def warm_up(unit_id: str, app: str, machine_id: str, gateway_token: str, deadline_s: float) -> WarmUp:
    """One turn through the unit's bridge, read to its end (or `deadline_s` seconds)."""
    from shared.bridge.client import BridgeError, BridgeNotConfigured, bridge_client

    target = MachineTarget(f"pool-{unit_id}", app, machine_id, gateway_token)
    started = time.monotonic()
    outcome, tokens, runtime = "timeout", 0, None
    try:
        with bridge_client().turn(target, turn_id=str(uuid.uuid4()), session_key=SESSION_KEY, message=MESSAGE,
                                  channel=CHANNEL) as events:
            for ev in events:  # heartbeat comments come every 15 s, so the deadline is seen while waiting
                if isinstance(ev, protocol.Event):
                    if ev.event == protocol.STATUS and isinstance(ev.data, dict):
                        runtime = ev.data.get("runtime") or runtime
                    elif ev.event == protocol.TOKEN:
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
    seconds = round(time.monotonic() - started, 3)
    settled = 0.0
    if outcome == protocol.DONE and runtime == "openclaw":
        time.sleep(SETTLE_S)
        settled = SETTLE_S
    result = WarmUp(outcome, seconds, tokens, settled)
    logs.log(log, logging.INFO, "warm-pool unit warmed up", unit_id=unit_id, fly_app=app, outcome=result.outcome,
             seconds=result.seconds, tokens=result.tokens, settled_s=result.settled_s)
    return result

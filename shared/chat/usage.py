"""What a chat turn used, and closing the turn with it — however it ends (issue 9: a turn cut off
mid-answer is paid for).

`TurnMeter` follows a turn as it is relayed: when the machine was reached (compute is charged from
then on, always), how many `token` events came through, and the usage the bridge reported (`done`,
or the `usage` of its `error`). Its `usage()` prefers what the bridge reported and falls back on what
was streamed: output tokens = `token` events relayed (never fewer than that), input tokens = an
estimate from the user's message when nothing was reported (a lower bound: the agent's context is
unknown here). When the LLM proxy lands it records provider usage per model call; this stays the
turn's compute and fallback record.

`close_turn` is one transaction: the turn's terminal status, its usage recorded once
(`usage_events.source_request_id = bridge:<turn>`), the assistant message's token counts, and the
settlement (which converts or releases the turn's hold). A settlement that fails is rolled back to its
savepoint and left to the reaper; the turn's status and usage still stand.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Protocol

from shared.billing.pricing import estimate_tokens
from shared.chat.models import TurnUsage
from shared.data import get_db

log = logging.getLogger("openagents.chat")


class OpenTurn(Protocol):
    """The turn being closed (`shared.chat.relay.OpenedTurn` is one)."""

    @property
    def turn_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def instance_id(self) -> str: ...
    @property
    def agent_id(self) -> str: ...
    @property
    def assistant_message_id(self) -> str | None: ...


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return max(0, int(value))
    except ValueError:
        return None


class TurnMeter:
    def __init__(self, message: str) -> None:
        self.message = message
        self.started: float | None = None
        self.streamed_tokens = 0
        self.reported: dict[str, Any] = {}

    @property
    def reached(self) -> bool:
        """Whether the turn got to the machine (nothing is used before that)."""
        return self.started is not None

    def start(self) -> None:
        if self.started is None:
            self.started = time.monotonic()

    def token(self) -> None:
        self.streamed_tokens += 1

    def report(self, usage: Any) -> None:
        """The bridge's own figures (`done.usage`, `error.usage`); anything else is ignored."""
        if isinstance(usage, dict):
            self.reported = usage

    def usage(self) -> TurnUsage:
        seconds = 0.0 if self.started is None else time.monotonic() - self.started
        reported_in = _count(self.reported.get("input_tokens"))
        reported_out = _count(self.reported.get("output_tokens")) or 0
        return TurnUsage(
            input_tokens=reported_in if reported_in is not None else estimate_tokens(self.message),
            output_tokens=max(reported_out, self.streamed_tokens),
            model=str(self.reported.get("model") or "")[:200],
            compute_seconds=round(seconds, 3),
        )


def close_turn(turn: OpenTurn, status: str, meter: TurnMeter,
               error: dict[str, Any] | None = None) -> tuple[TurnUsage, int | None]:
    """Finishes the turn as `status` (done|error|interrupted), records its usage and settles it.
    Returns the usage and what the ledger took (`done.credits`); None when the settlement is left to
    the reaper or someone else closed the turn first (then nothing is recorded twice)."""
    from shared.billing.settlement import settle_turn_in

    usage = meter.usage()
    paid: int | None = None
    with get_db().service() as tx:
        if tx.scalar("turn_finish", turn_id=turn.turn_id, status=status,
                     error=json.dumps(error) if error else None) is None:
            return usage, None
        if meter.reached:
            tx.execute("usage_event_record", user_id=turn.user_id, instance_id=turn.instance_id,
                       agent_id=turn.agent_id, turn_id=turn.turn_id, source_request_id=f"bridge:{turn.turn_id}",
                       model=usage.model, compute_seconds=usage.compute_seconds, **usage.tokens())
            if turn.assistant_message_id:
                tx.execute("message_usage", message_id=turn.assistant_message_id, **usage.tokens())
        try:
            with tx.savepoint():
                result = settle_turn_in(tx, turn.turn_id)
                paid = result.paid if result is not None else None
        except Exception:
            log.exception("settling turn failed; the reaper will retry")
    return usage, paid

"""The relay at the heart of a web turn, shared by the route that opens it (`shared.chat.stream`) and
the worker that finishes a turn its function ran out of time for (`shared.chat.handoff`):

    OpenedTurn       the turn being relayed (what `close_turn` needs, and the message it answers)
    RelayPosition    how far upstream a relay got: the bridge event it took last, and `done`
    relay_upstream   the bridge's events → the turn's own, numbered and framed into turn_events
    finish_done      the end after `done`: settle, then `done {usage, credits}`
    finish_error     the end on a failure: the `error` event, then settle what was used
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from shared import logs
from shared.bridge import protocol
from shared.chat.frames import TurnWriter
from shared.chat.stream_leases import StreamLease
from shared.chat.upstream import UpstreamError
from shared.chat.usage import TurnMeter, close_turn
from shared.problems import Problem
from shared.security import canary
from shared.streaming import sse


@dataclass(frozen=True, slots=True)
class OpenedTurn:
    user_id: str
    instance_id: str
    agent_id: str
    session_id: str
    turn_id: str
    user_message_id: str | None
    assistant_message_id: str | None
    message: str
    status: str  # the instance's status when the turn opened
    attached: bool  # a repeated client_message_id: follow the existing turn instead
    lease: StreamLease | None = field(default=None, compare=False)  # the stream's slot (`lease=`)


def problem_data(problem: Problem) -> dict[str, Any]:
    """An `error` event's data: the problem object, with the request id when there is one."""
    data = problem.to_dict()
    rid = logs.request_id.get()
    if rid:
        data["request_id"] = rid
    return data


@dataclass(slots=True)
class RelayPosition:
    """How far a relay got upstream: whether the bridge stream was opened, the id of the last bridge
    event it took (relayed or not), and whether that was the turn's `done`."""

    opened: bool = False
    bridge_seq: int | None = None
    finished: bool = False


def relay_upstream(events: Iterator[protocol.Event | protocol.Comment], writer: TurnWriter, meter: TurnMeter,
                   position: RelayPosition, *, written_through: int = 0,
                   between: Callable[[], None] | None = None,
                   guard: canary.StreamGuard | None = None) -> Iterator[bytes]:
    """The bridge's events as the turn's own, numbered by `writer` and framed into turn_events; yields
    each one's SSE bytes (heartbeats too) and returns at `done` (its usage goes to `meter`). An
    `error` raises UpstreamError. Events the writer numbers up to `written_through` are already
    stored (a worker re-running a handoff): they are counted, not written again. `between` runs
    after each event and may raise to stop the relay there. `guard` screens token text for the
    instance's canary (shared.security.canary): a trip ends the turn as an UpstreamError."""
    for ev in events:
        if isinstance(ev, protocol.Comment):
            yield sse.HEARTBEAT
        else:
            if ev.id is not None and ev.id.isdigit():
                position.bridge_seq = int(ev.id)
            if ev.event == protocol.DONE:
                meter.report(ev.data.get("usage") if isinstance(ev.data, dict) else None)
                position.finished = True
                held = guard.finish() if guard is not None else ""
                if held:
                    yield writer.emit(protocol.TOKEN, {"text": held})
                return
            if ev.event == protocol.ERROR:
                data = ev.data if isinstance(ev.data, dict) else {}
                meter.report(data.get("usage"))
                raise UpstreamError(Problem(502, str(data.get("title") or "Agent error"),
                                            str(data.get("detail") or "The agent failed."), code="agent-error"))
            if ev.event in protocol.RELAYED and isinstance(ev.data, dict):
                if ev.event == protocol.TOKEN:
                    meter.token()
                if guard is not None and ev.event == protocol.TOKEN:
                    try:
                        data = {**ev.data, "text": guard.feed(str(ev.data.get("text", "")))}
                    except canary.Tripped as exc:
                        raise UpstreamError(exc.problem) from None
                else:
                    data = ev.data
                if writer.seq < written_through:
                    writer.seq += 1  # stored already; fed to the guard all the same, so it holds what it held
                else:
                    yield writer.emit(ev.event, data)
        writer.maybe_flush()
        if between is not None:
            between()


def finish_done(turn: OpenedTurn, writer: TurnWriter, meter: TurnMeter) -> Iterator[bytes]:
    """The turn's end after `done`: what is buffered, the settlement, then `done {usage, credits}`."""
    writer.flush()
    usage, credits = close_turn(turn, "done", meter)
    yield writer.emit("done", {"usage": usage.tokens(), "credits": credits})
    writer.flush()


def finish_error(turn: OpenedTurn, writer: TurnWriter, meter: TurnMeter, problem: Problem,
                 error: dict[str, Any] | None = None) -> Iterator[bytes]:
    """The turn's end on a failure: the `error` event, then the turn closed and settled."""
    yield writer.emit("error", problem_data(problem))
    writer.flush()
    close_turn(turn, "error", meter, error if error is not None else problem.to_dict())



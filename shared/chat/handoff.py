"""Turns longer than a function may live (issue 9): the route hands its upstream to a worker.

A serverless function may run FUNCTION_MAX_DURATION_S (vercel.json's `maxDuration` for api/*.py,
the source of truth, which the setting mirrors; tests/unit/test_function_limit.py checks they
agree). An agent turn with tools often runs for minutes, so:

    deadline()        when a stream that starts now must be done: the limit less CHAT_HANDOFF_MARGIN_S
    hand_off(…)       the route's side, at its deadline, with the upstream stream still open: ask the
                      bridge to hold the run (`POST /v1/turns/{id}/hold`), then defer `continue_turn`
                      with where the relay got to; the route then ends its response without a
                      terminal event and the client resumes with Last-Event-ID
    continue_turn(…)  the worker's side (job `continue_turn`, jobs/chat.py): re-attach to the run, go
                      on writing the turn's events to turn_events, close and settle it

Every event exactly once, across the handoff and any retry of the job:
- the route flushes every event it numbered before it defers, and passes the turn's last event id
  (`seq`) with the id of the last bridge event it took (`bridge_after`): one instant, on both sides;
- the worker re-attaches after `bridge_after` (`GET /v1/turns/{id}/events`, which never starts a
  run; a POST, which starts or attaches, only if the route never took a bridge event), numbers what
  follows from `seq + 1` exactly as the route would have, and writes only what turn_events does not
  already hold — a retried job recounts the events a failed attempt wrote, never writes them twice;
- it closes the turn with `close_turn`, like the route: one settlement, ledger key `turn:<id>`.

The bridge must not cancel the run meanwhile, which it does when a turn's last listener leaves: the
hold keeps it running CHAT_HANDOFF_HOLD_S after each time that happens, which covers the gap until
the worker attaches, the worker's own reconnects, and a job retried after its worker died. A turn
whose hold ran out (no worker came) is gone from the bridge; the worker then ends it with an error
and charges what was streamed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from shared import logs
from shared.data import get_db

if TYPE_CHECKING:
    from shared.bridge.target import MachineTarget
    from shared.chat.frames import TurnWriter
    from shared.chat.relay import OpenedTurn, RelayPosition
    from shared.chat.usage import TurnMeter
    from shared.security.canary import StreamGuard

log = logging.getLogger("openagents.chat")

# Re-attaching after a dropped connection; a turn the bridge no longer has fails every attempt.
ATTACH_ATTEMPTS = 4


def deadline(started: float | None = None) -> float:
    """The monotonic time by which a stream started at `started` (default: now) must be done."""
    from shared.config import get_settings

    s = get_settings()
    return (time.monotonic() if started is None else started) + max(0.0, s.FUNCTION_MAX_DURATION_S
                                                                    - s.CHAT_HANDOFF_MARGIN_S)


def session_key(session_id: str) -> str:
    """The bridge's session key of a web chat session (the route and the worker send the same)."""
    return f"web:{session_id}"


def hand_off(turn: OpenedTurn, target: MachineTarget, position: RelayPosition, seq: int, meter: TurnMeter, *,
             held: str = "") -> None:
    """The route's side: `turn` has its events up to `seq` flushed; `position` says how far upstream
    it got; `held` is the text its canary guard holds back (not relayed yet). Called before the
    upstream stream closes."""
    from shared import jobs
    from shared.bridge.client import BridgeError, bridge_client
    from shared.config import get_settings

    if position.opened:
        try:
            bridge_client().hold_turn(target, turn_id=turn.turn_id, seconds=get_settings().CHAT_HANDOFF_HOLD_S)
        except BridgeError as exc:
            # Without the hold the run ends with this stream; the worker finds it gone and says so.
            logs.log(log, logging.WARNING, "could not hold the turn on its machine", turn_id=turn.turn_id,
                     error=type(exc).__name__, status=exc.status)
    elapsed = 0.0 if meter.started is None else time.monotonic() - meter.started
    with get_db().service() as tx:
        jobs.defer(tx, jobs.CONTINUE_TURN, turn_id=turn.turn_id, bridge_after=position.bridge_seq, seq=seq,
                   streamed_tokens=meter.streamed_tokens, reached_at=time.time() - elapsed, held=held)
    logs.log(log, logging.INFO, "turn handed to a worker", turn_id=turn.turn_id, seq=seq,
             bridge_after=position.bridge_seq)


def continue_turn(turn_id: str, bridge_after: int | None, seq: int, streamed_tokens: int, reached_at: float,
                  held: str = "") -> str:
    """The worker's side; what became of the turn: `done`, `error`, or `closed` (someone else closed
    it already: a previous attempt, or the reaper)."""
    from shared.chat.frames import TurnWriter
    from shared.chat.relay import OpenedTurn, RelayPosition, finish_done, finish_error
    from shared.chat.upstream import UpstreamError
    from shared.chat.usage import TurnMeter
    from shared.lifecycle import machine_target
    from shared.lifecycle.errors import LifecycleError
    from shared.problems import Problem
    from shared.security import canary

    with get_db().service() as tx:
        row = tx.one("turn_handoff_context", turn_id=turn_id)
    if row is None or row["status"] != "streaming":
        return "closed"
    turn = OpenedTurn(str(row["user_id"]), str(row["instance_id"]), str(row["agent_id"]), str(row["session_id"]),
                      turn_id, None, str(row["assistant_message_id"]) if row["assistant_message_id"] else None,
                      row["message"], "running", attached=False)
    meter = TurnMeter(turn.message)
    meter.started = time.monotonic() - max(0.0, time.time() - reached_at)  # compute is charged from then
    meter.streamed_tokens = streamed_tokens
    writer = TurnWriter(turn_id=turn_id, session_id=turn.session_id, user_id=turn.user_id, start_seq=seq)
    position = RelayPosition(opened=bridge_after is not None, bridge_seq=bridge_after)
    guard = canary.stream_guard(turn.instance_id, user_id=turn.user_id, reference=turn_id)
    try:
        try:
            target = machine_target(turn.instance_id)
        except LifecycleError as exc:
            raise UpstreamError(exc if isinstance(exc, Problem) else Problem(
                503, "Service Unavailable", str(exc), code="instance-unavailable")) from None
        try:
            guard.feed(held)  # a proper prefix of the canary: all of it stays held, as it was at the route
        except canary.Tripped as exc:
            raise UpstreamError(exc.problem) from None
        _follow(turn, target, writer, meter, position, guard, written_through=int(row["last_seq"]))
        _drain(finish_done(turn, writer, meter))
        return "done"
    except UpstreamError as exc:
        _drain(finish_error(turn, writer, meter, exc.problem))
        return "error"


def _follow(turn: OpenedTurn, target: MachineTarget, writer: TurnWriter, meter: TurnMeter, position: RelayPosition,
            guard: StreamGuard, *, written_through: int) -> None:
    """Relays the rest of the turn up to its `done`, re-attaching after a dropped connection."""
    from shared.chat.relay import relay_upstream
    from shared.chat.upstream import UpstreamError, attach_turn_stream, open_turn_stream
    from shared.problems import Problem

    failures = 0
    while True:
        if position.opened:
            stream = attach_turn_stream(target, turn_id=turn.turn_id, after=position.bridge_seq or 0)
        else:
            stream = open_turn_stream(target, turn_id=turn.turn_id, session_key=session_key(turn.session_id),
                                      message=turn.message)
        try:
            with stream as events:
                position.opened = True
                _drain(relay_upstream(events, writer, meter, position, written_through=written_through,
                                      guard=guard))
            if position.finished:
                return
            problem = Problem(502, "Bad Gateway", "The agent's stream ended before it finished.",
                              code="agent-stream-ended")
        except UpstreamError as exc:
            if exc.problem.code in ("agent-error", "canary-tripped"):
                raise
            problem = exc.problem
        failures += 1
        if failures >= ATTACH_ATTEMPTS:
            raise UpstreamError(problem)
        writer.flush()
        logs.log(log, logging.WARNING, "re-attaching to a handed-off turn", turn_id=turn.turn_id,
                 after=position.bridge_seq, reason=problem.code)
        time.sleep(min(0.25 * 2 ** failures, 4.0))


def _drain(chunks: Iterable[bytes]) -> None:
    for _ in chunks:  # the SSE bytes are for a browser; a worker has none
        pass

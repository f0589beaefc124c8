"""Turns: `POST /v1/turns {turn_id, session_key, message, channel}` → `text/event-stream`.

Each event of a turn is sent as

    id: <seq>            1, 2, 3 … within the turn
    event: <name>
    data: <JSON>

in this order: `status {state: "starting"}` (only while the runtime is not ready yet), `status {state:
"running", turn_id, runtime}`, any number of `token {text}` and `tool {name, phase: "start"|"result",
call_id, args | is_error, result}`, and exactly one terminal `done {usage: {input_tokens,
output_tokens}}` or `error {title, detail, usage}`; then the stream closes. An `error` always carries
the `usage` of what ran before it (the runtime's figures, else the `token` events so far and an input
estimate), so a failed turn is charged for what it used. While nothing else is sent, an SSE
comment `: keepalive` goes out every heartbeat interval (15 s; `BRIDGE_HEARTBEAT_S`).

A turn runs in the bridge, apart from any one HTTP request, and keeps its events:
- A POST with a turn_id that is running **attaches** to it: it replays the events after
  `Last-Event-ID` (all of them without the header) and follows the live tail. The same turn_id with a
  different session_key or message is refused with 409.
- A finished turn (`done`/`error`) can be replayed the same way for `BRIDGE_TURN_RETENTION_S`
  (600 s), so a retried request never runs the model twice.
- When the **last** listener disconnects from a running turn, the run is cancelled upstream (the
  runtime's stream is closed, which for OpenClaw closes its HTTP request and so cancels the run); the
  turn is then `cancelled`, and a later POST with its turn_id starts a fresh run.
- `POST /v1/turns/{turn_id}/hold {"seconds": n}` (0 ≤ n ≤ 3600) changes that for one turn: whenever
  its last listener leaves, the run goes on for n seconds awaiting a new one, and is cancelled only
  if none comes. The platform holds a turn before its serverless function hands the stream to a
  worker (issue 9), so the run survives the function's connection closing. Answers the summary.
- `GET /v1/turns/{turn_id}/events` re-attaches: the events after `Last-Event-ID`, then the live tail,
  exactly like an attaching POST, but it never starts a run: 404 for a turn unknown or expired, 409
  `turn-cancelled` for one that was cancelled (a POST would run the model again).

`GET /v1/turns/{turn_id}` answers `{turn_id, session_key, state, events, listeners, hold_s, usage}` with
state `running|done|error|cancelled` (404 when unknown or expired); `usage` is the terminal event's,
or for a cancelled (or running) turn what it used so far.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from fly.agent.bridge.body import read_json
from fly.agent.bridge.problems import BridgeError
from fly.agent.bridge.runtime import Runtime, TurnRequest
from shared.bridge import protocol

log = logging.getLogger("bridge.turns")

MAX_MESSAGE_CHARS = 200_000
MAX_TURN_BODY_BYTES = 1 << 20
READY_WAIT_S = 120.0
_FORBIDDEN_SESSION_PREFIXES = ("subagent:", "cron:", "acp:", "agent:")


class Turn:
    def __init__(self, request: TurnRequest, runtime: Runtime) -> None:
        self.request = request
        self.runtime = runtime
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.state = "running"
        self.listeners = 0
        self.finished_at: float | None = None
        self.output_tokens = 0  # `token` events so far: what a cut-off or failed run is charged for
        self.hold_s = 0.0  # how long the run outlives its last listener (POST …/hold)
        self._orphaned: asyncio.TimerHandle | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        return self.state != "running"

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"turn-{self.request.turn_id}")

    def change_event(self) -> asyncio.Event:
        return self._changed

    def usage_so_far(self) -> dict[str, int]:
        """Usage of a run that did not reach `done`: the tokens it streamed, and the message's UTF-8
        bytes / 4 as input tokens (a lower bound; the runtime's context is unknown here)."""
        return {"input_tokens": math.ceil(len(self.request.message.encode("utf-8")) / 4),
                "output_tokens": self.output_tokens}

    def _publish(self, name: str, data: dict[str, Any]) -> None:
        if name == protocol.TOKEN:
            self.output_tokens += 1
        elif name == protocol.ERROR and not isinstance(data.get("usage"), dict):
            data = {**data, "usage": self.usage_so_far()}  # a failed run is still paid for
        self.events.append((len(self.events) + 1, name, data))
        old, self._changed = self._changed, asyncio.Event()
        old.set()

    def _finish(self, state: str) -> None:
        self.state = state
        self.finished_at = time.monotonic()
        old, self._changed = self._changed, asyncio.Event()
        old.set()

    async def _run(self) -> None:
        req = self.request
        started = time.monotonic()
        state = "error"
        try:
            ready, _ = await self.runtime.readiness()
            if not ready:
                self._publish(protocol.STATUS, {"state": protocol.STATE_STARTING})
                deadline = time.monotonic() + READY_WAIT_S
                while not ready and time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    ready, _ = await self.runtime.readiness()
                if not ready:
                    self._publish(protocol.ERROR, {"title": "Agent not ready",
                                            "detail": f"the agent runtime was not ready within {READY_WAIT_S:.0f} s"})
                    return
            self._publish(protocol.STATUS, {"state": protocol.STATE_RUNNING, "turn_id": req.turn_id,
                                            "runtime": self.runtime.name})
            terminal = None
            async with contextlib.aclosing(self.runtime.run_turn(req)) as stream:
                async for name, data in stream:
                    self._publish(name, data)
                    if name in protocol.TERMINAL:
                        terminal = name
                        break
            if terminal is None:
                terminal = protocol.ERROR
                self._publish(protocol.ERROR, {"title": "Agent runtime ended the turn early",
                                        "detail": "the runtime closed its stream without a final event"})
            state = terminal
        except asyncio.CancelledError:
            state = "cancelled"
            raise
        except Exception as exc:
            log.exception("turn failed", extra={"turn_id": req.turn_id})
            self._publish(protocol.ERROR, {"title": "Agent runtime failed",
                                           "detail": f"{type(exc).__name__}: {exc}"[:500]})
            state = "error"
        finally:
            self._finish(state)
            log.info("turn finished", extra={"turn_id": req.turn_id, "state": state,
                                             "events": len(self.events),
                                             "duration_ms": round((time.monotonic() - started) * 1000)})

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def orphaned(self) -> None:
        """Its last listener left: cancel now, or after `hold_s` unless someone attaches by then."""
        if self.hold_s <= 0:
            self.cancel()
            return
        if self._orphaned is not None:
            self._orphaned.cancel()
        self._orphaned = asyncio.get_running_loop().call_later(self.hold_s, self._cancel_if_orphaned)

    def adopted(self) -> None:
        if self._orphaned is not None:
            self._orphaned.cancel()
            self._orphaned = None

    def _cancel_if_orphaned(self) -> None:
        self._orphaned = None
        if self.listeners <= 0 and not self.finished:
            log.info("held turn not re-attached in time: cancelling", extra={"turn_id": self.request.turn_id})
            self.cancel()

    async def wait(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def summary(self) -> dict[str, Any]:
        # The terminal event's usage; for a cancelled (or still running) run, what it used so far.
        usage = self.usage_so_far()
        if self.events and self.events[-1][1] in protocol.TERMINAL:
            usage = self.events[-1][2].get("usage") or usage
        return {"turn_id": self.request.turn_id, "session_key": self.request.session_key, "state": self.state,
                "events": len(self.events), "listeners": self.listeners, "hold_s": self.hold_s, "usage": usage}


class TurnRegistry:
    def __init__(self, runtime: Runtime, retention_s: float = 600.0) -> None:
        self.runtime = runtime
        self.retention_s = retention_s
        self.turns: dict[str, Turn] = {}

    def _prune(self) -> None:
        now = time.monotonic()
        for turn_id, turn in list(self.turns.items()):
            if turn.finished_at is not None and now - turn.finished_at > self.retention_s:
                del self.turns[turn_id]

    def get(self, turn_id: str) -> Turn | None:
        self._prune()
        return self.turns.get(turn_id)

    def open(self, request: TurnRequest) -> Turn:
        """Starts the turn, or attaches to the one with this turn_id; the caller becomes a listener."""
        self._prune()
        turn = self.turns.get(request.turn_id)
        if turn is not None and turn.state != "cancelled":
            if (turn.request.session_key, turn.request.message) != (request.session_key, request.message):
                raise BridgeError(409, "Turn id in use",
                                  "this turn_id belongs to a different session or message")
        else:
            turn = Turn(request, self.runtime)
            self.turns[request.turn_id] = turn
            turn.start()
        turn.listeners += 1
        turn.adopted()
        return turn

    def attach(self, turn_id: str) -> Turn:
        """Re-attaches to a running or retained turn (never starts one); the caller becomes a listener."""
        turn = self.get(turn_id)
        if turn is None:
            raise BridgeError(404, "Not found", "no such turn (unknown or expired)")
        if turn.state == "cancelled":
            raise BridgeError(409, "Turn cancelled", "this turn was cancelled; it can only be started again",
                              code="turn-cancelled")
        turn.listeners += 1
        turn.adopted()
        return turn

    def release(self, turn: Turn) -> None:
        turn.listeners -= 1
        if turn.listeners <= 0 and not turn.finished:
            log.info("last listener left", extra={"turn_id": turn.request.turn_id, "hold_s": turn.hold_s})
            turn.orphaned()

    async def close(self) -> None:
        running = [t for t in self.turns.values() if not t.finished]
        for turn in running:
            turn.cancel()
        for turn in running:
            await turn.wait()


class TurnStream:
    """The SSE response of one listener: replay after `after`, then the live tail, with heartbeats.

    It watches `http.disconnect` itself, so a client that goes away is noticed at once (not at the next
    write), and releases its listener slot on the way out."""

    def __init__(self, registry: TurnRegistry, turn: Turn, after: int, heartbeat_s: float) -> None:
        self.registry = registry
        self.turn = turn
        self.after = after
        self.heartbeat_s = heartbeat_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def wait_disconnect() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return

        disconnected = asyncio.create_task(wait_disconnect())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", protocol.SSE_MEDIA_TYPE.encode() + b"; charset=utf-8"),
                (b"cache-control", b"no-cache, no-transform"),
                (b"x-accel-buffering", b"no"),
                (protocol.TURN_ID.encode(), self.turn.request.turn_id.encode()),
            ]})
            sent = self.after
            turn = self.turn
            while True:
                changed = turn.change_event()
                if sent < len(turn.events):
                    chunk = b"".join(protocol.format_event(name, data, seq) for seq, name, data in turn.events[sent:])
                    sent = len(turn.events)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    continue
                if turn.finished:
                    break
                waiter = asyncio.create_task(changed.wait())
                done, _ = await asyncio.wait({waiter, disconnected}, timeout=self.heartbeat_s,
                                             return_when=asyncio.FIRST_COMPLETED)
                if disconnected in done:
                    waiter.cancel()
                    return
                if not done:
                    waiter.cancel()
                    await send({"type": "http.response.body", "body": protocol.HEARTBEAT, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            return  # the client went away mid-write
        finally:
            disconnected.cancel()
            self.registry.release(self.turn)


def _field(body: dict[str, Any], name: str, *, max_len: int, required: bool = True, default: str = "") -> str:
    value = body.get(name, None)
    if value is None:
        if required:
            raise BridgeError(400, "Invalid turn", f"`{name}` is required")
        return default
    if not isinstance(value, str) or (required and not value.strip()):
        raise BridgeError(400, "Invalid turn", f"`{name}` must be a non-empty string")
    if len(value) > max_len:
        raise BridgeError(400, "Invalid turn", f"`{name}` is longer than {max_len} characters")
    return value


def parse_turn(body: dict[str, Any]) -> TurnRequest:
    unknown = set(body) - {"turn_id", "session_key", "message", "channel"}
    if unknown:
        raise BridgeError(400, "Invalid turn", f"unknown fields: {', '.join(sorted(unknown))}")
    turn_id = _field(body, "turn_id", max_len=200)
    session_key = _field(body, "session_key", max_len=200)
    if session_key.lower().startswith(_FORBIDDEN_SESSION_PREFIXES) or any(c.isspace() for c in session_key):
        raise BridgeError(400, "Invalid turn", "`session_key` has a reserved prefix or whitespace")
    message = _field(body, "message", max_len=MAX_MESSAGE_CHARS)
    channel = _field(body, "channel", max_len=64, required=False, default="web") or "web"
    return TurnRequest(turn_id=turn_id, session_key=session_key, message=message, channel=channel)


def _after(request: Request) -> int:
    last = request.headers.get(protocol.LAST_EVENT_ID, "").strip()
    if not last:
        return 0
    if not last.isdigit() or len(last) > 9:
        raise BridgeError(400, "Invalid Last-Event-ID", "Last-Event-ID must be an integer")
    return int(last)


async def post_turn(request: Request) -> Any:
    app_state = request.app.state
    turn_request = parse_turn(await read_json(request, MAX_TURN_BODY_BYTES))
    after = _after(request)
    registry: TurnRegistry = app_state.turns
    turn = registry.open(turn_request)
    return TurnStream(registry, turn, after, app_state.config.heartbeat_s)


async def get_turn(request: Request) -> JSONResponse:
    turn = request.app.state.turns.get(request.path_params["turn_id"])
    if turn is None:
        raise BridgeError(404, "Not found", "no such turn (unknown or expired)")
    return JSONResponse(turn.summary())


async def get_turn_events(request: Request) -> Any:
    after = _after(request)
    registry: TurnRegistry = request.app.state.turns
    turn = registry.attach(request.path_params["turn_id"])
    return TurnStream(registry, turn, after, request.app.state.config.heartbeat_s)


async def post_turn_hold(request: Request) -> JSONResponse:
    body = await read_json(request, 1024)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= protocol.MAX_HOLD_S:
        raise BridgeError(400, "Invalid hold", f"`seconds` must be a number from 0 to {protocol.MAX_HOLD_S:.0f}")
    turn = request.app.state.turns.get(request.path_params["turn_id"])
    if turn is None:
        raise BridgeError(404, "Not found", "no such turn (unknown or expired)")
    turn.hold_s = float(seconds)
    return JSONResponse(turn.summary())

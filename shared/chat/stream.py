"""`POST /api/chat/stream`: one assistant turn, relayed from the agent machine to the browser.

Order of events (fixed): `session` first; then `status`, `token`, `tool` as they come; ending with
`done {usage, credits}` or `error` (a problem object). Ids count from 1 within the turn. Every event
is also written to `turn_events` and broadcast on `session:{id}` in ~50 ms frames; on `done` the turn
is settled. A client disconnect cancels upstream and leaves the turn `interrupted` for the reaper.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import logs
from shared.auth import User
from shared.chat.frames import TurnWriter
from shared.chat.models import ChatRequest
from shared.chat.upstream import MachineTarget, UpstreamError, open_turn_stream
from shared.data import get_db
from shared.problems import Problem, conflict, not_found
from shared.streaming import sse

log = logging.getLogger("openagents.chat")


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


class _Raced(Exception):
    pass


def agent_price(instance: dict[str, Any], *, continuing_session: bool) -> int:
    """The agent's part of the next turn's price, for the 402 rule (a `per_session` agent is paid by
    the first turn of a session)."""
    if instance["pricing_model"] == "free" or (instance["pricing_model"] == "per_session" and continuing_session):
        return 0
    return int(instance["credits_price"])


def open_turn(user: User, req: ChatRequest) -> OpenedTurn:
    """One transaction: the instance, a repeated client_message_id, the 402 rule, then the session,
    turn and both messages (so the first token is not kept waiting on several round trips)."""
    from shared.billing.ledger import require_credits

    db = get_db()
    try:
        with db.service() as tx:
            inst = tx.one("chat_instance", instance_id=req.instance_id, user_id=user.id)
            if inst is None:
                raise not_found("instance")
            existing = tx.one("turn_by_client_id", user_id=user.id, client_message_id=req.client_message_id)
            if existing is not None:
                return _attached(user, inst, existing, req)
            require_credits(user.id, agent_price(inst, continuing_session=req.session_id is not None), tx=tx)
            if req.session_id is not None:
                if tx.one("session_of_user", session_id=req.session_id, user_id=user.id,
                          instance_id=req.instance_id) is None:
                    raise not_found("session")
                session_id = str(req.session_id)
            else:
                session_id = str(tx.scalar("session_create", user_id=user.id, instance_id=req.instance_id,
                                           title=req.message, channel="web"))
            turn_id = tx.scalar("turn_create", session_id=session_id, user_id=user.id,
                                instance_id=req.instance_id, client_message_id=req.client_message_id)
            if turn_id is None:
                raise _Raced  # rolls back the session this request made
            common = {"session_id": session_id, "user_id": user.id, "turn_id": turn_id}
            user_msg = tx.scalar("message_create", role="user", content=req.message, **common)
            asst_msg = tx.scalar("message_create", role="assistant", content="", **common)
            tx.execute("turn_link_messages", turn_id=turn_id, user_message_id=user_msg, assistant_message_id=asst_msg)
            tx.execute("session_touch", session_id=session_id)
    except _Raced:
        with db.service() as tx:
            existing = tx.one("turn_by_client_id", user_id=user.id, client_message_id=req.client_message_id)
        assert existing is not None
        return _attached(user, inst, existing, req)
    return OpenedTurn(user.id, str(inst["id"]), str(inst["agent_id"]), session_id, str(turn_id), str(user_msg),
                      str(asst_msg), req.message, inst["status"], attached=False)


def _attached(user: User, inst: dict[str, Any], existing: dict[str, Any], req: ChatRequest) -> OpenedTurn:
    if str(existing["instance_id"]) != str(inst["id"]):
        raise conflict("This client_message_id was already used for another agent.", code="duplicate-client-message-id")
    return OpenedTurn(user.id, str(inst["id"]), str(inst["agent_id"]), str(existing["session_id"]),
                      str(existing["id"]), None, None, req.message, inst["status"], attached=True)


def _problem_data(problem: Problem) -> dict[str, Any]:
    data = problem.to_dict()
    rid = logs.request_id.get()
    if rid:
        data["request_id"] = rid
    return data


def _finish(turn: OpenedTurn, status: str, error: dict[str, Any] | None = None) -> bool:
    import json

    with get_db().service() as tx:
        return tx.scalar("turn_finish", turn_id=turn.turn_id, status=status,
                         error=json.dumps(error) if error else None) is not None


def _complete(turn: OpenedTurn, usage: dict[str, Any], seconds: float) -> tuple[dict[str, int], int | None]:
    """`done`: usage recorded once, the turn finished and settled, all in one transaction. A failed
    settlement is rolled back to its savepoint and left to the reaper; the answer still stands."""
    from shared.billing.settlement import settle_turn_in

    clean = {"input_tokens": max(0, int(usage.get("input_tokens") or 0)),
             "output_tokens": max(0, int(usage.get("output_tokens") or 0))}
    charged: int | None = None
    with get_db().service() as tx:
        tx.execute("usage_event_record", user_id=turn.user_id, instance_id=turn.instance_id, agent_id=turn.agent_id,
                   turn_id=turn.turn_id, source_request_id=f"bridge:{turn.turn_id}", model=str(usage.get("model") or ""),
                   compute_seconds=round(seconds, 3), **clean)
        tx.execute("message_usage", message_id=turn.assistant_message_id, **clean)
        tx.scalar("turn_finish", turn_id=turn.turn_id, status="done", error=None)
        try:
            with tx.savepoint():
                result = settle_turn_in(tx, turn.turn_id)
                charged = result.charged if result is not None else None
        except Exception:
            log.exception("settling turn failed; the reaper will retry")
    return clean, charged


def _reach_machine(turn: OpenedTurn, writer: TurnWriter) -> Generator[bytes, None, MachineTarget]:
    """Wakes the machine when needed (emitting `status {state: waking}`) and returns how to reach it."""
    from shared.lifecycle import machine_target, needs_wake, wake
    from shared.lifecycle.errors import LifecycleError

    try:
        if needs_wake(turn.status):
            yield writer.emit("status", {"state": "waking"})
            writer.flush()
            wake(turn.instance_id)
        elif turn.status != "running":
            raise UpstreamError(conflict(f"The agent is {turn.status}; it cannot chat right now.",
                                         code="instance-not-running"))
        return _cached_target(turn.instance_id, machine_target)
    except LifecycleError as exc:
        problem = exc if isinstance(exc, Problem) else Problem(503, "Service Unavailable", str(exc),
                                                                  code="instance-unavailable")
        raise UpstreamError(problem) from None


# A warm function reuses how to reach a machine for a while (a Vault read per turn otherwise); the
# entry is dropped when reaching the machine fails.
_TARGET_TTL_S = 30.0
_targets: dict[str, tuple[float, MachineTarget]] = {}


def _cached_target(instance_id: str, load: Any) -> MachineTarget:
    hit = _targets.get(instance_id)
    if hit is not None and time.monotonic() - hit[0] < _TARGET_TTL_S:
        return hit[1]
    target = load(instance_id)
    _targets[instance_id] = (time.monotonic(), target)
    return target


class _Control:
    """Shared by the relay and the connection to the browser: whether the browser is still there."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.left_at: datetime | None = None
        self._checked = 0.0
        self._followed = False

    def client_left(self) -> None:
        self.left_at = datetime.now(UTC)

    def should_cancel(self, turn_id: str) -> bool:
        """After the browser left: keep going while a reconnected client follows the turn; cancel once
        nobody has come back within the grace period."""
        if self.left_at is None:
            return False
        now = time.monotonic()
        if now - self._checked >= 0.5:
            self._checked = now
            with get_db().service() as tx:
                self._followed = bool(tx.scalar("turn_follower_since", turn_id=turn_id, since=self.left_at))
        if self._followed:
            return False
        return (datetime.now(UTC) - self.left_at).total_seconds() > self.grace_s


class _Cancelled(Exception):
    pass


def stream_turn(turn: OpenedTurn, *, grace_s: float | None = None) -> Iterator[bytes]:
    """The browser's side: relays what `_relay` produces; when the browser goes away, the relay runs
    on without it (see `_Control`), so a reload can resume the same turn."""
    if grace_s is None:
        from shared.config import get_settings

        grace_s = get_settings().CHAT_RESUME_GRACE_S
    control = _Control(grace_s)
    relay = _relay(turn, control)
    try:
        for chunk in relay:
            try:
                yield chunk
            except GeneratorExit:
                control.client_left()
                for _ in relay:  # no more yields to a closed connection: just finish the relay
                    pass
                return
    finally:
        relay.close()


def _relay(turn: OpenedTurn, control: _Control) -> Iterator[bytes]:
    writer = TurnWriter(turn_id=turn.turn_id, session_id=turn.session_id, user_id=turn.user_id)
    try:
        # Persisted with the first frame: the turn row already exists, and flushing here would put a
        # round trip in front of the first token.
        yield writer.emit("session", {"session_id": turn.session_id, "turn_id": turn.turn_id,
                                      "message_id": turn.assistant_message_id})
        target = yield from _reach_machine(turn, writer)
        started = time.monotonic()
        usage: dict[str, Any] | None = None
        with open_turn_stream(target, turn_id=turn.turn_id, session_key=f"web:{turn.session_id}",
                              message=turn.message) as events:
            for ev in events:
                if isinstance(ev, sse.Comment):
                    yield sse.HEARTBEAT
                elif ev.event == "done":
                    usage = dict(ev.data.get("usage") or {}) if isinstance(ev.data, dict) else {}
                    break
                elif ev.event == "error":
                    data = ev.data if isinstance(ev.data, dict) else {}
                    raise UpstreamError(Problem(502, str(data.get("title") or "Agent error"),
                                                str(data.get("detail") or "The agent failed."), code="agent-error"))
                elif ev.event in ("token", "status", "tool") and isinstance(ev.data, dict):
                    yield writer.emit(ev.event, ev.data)
                writer.maybe_flush()
                if control.should_cancel(turn.turn_id):
                    # Leaving the `with` closes the upstream stream: the bridge cancels the run.
                    raise _Cancelled
        if usage is None:
            raise UpstreamError(Problem(502, "Bad Gateway", "The agent's stream ended before it finished.",
                                        code="agent-stream-ended"))
        writer.flush()
        clean, credits = _complete(turn, usage, time.monotonic() - started)
        yield writer.emit("done", {"usage": clean, "credits": credits})
        writer.flush()
    except _Cancelled:
        writer.flush()
        _finish(turn, "interrupted")
        log.info("turn cancelled: the client left and did not come back")
    except UpstreamError as exc:
        _targets.pop(turn.instance_id, None)
        yield writer.emit("error", _problem_data(exc.problem))
        writer.flush()
        _finish(turn, "error", exc.problem.to_dict())
    except GeneratorExit:
        # Closed without draining (the server shut down): leave the turn to the reaper.
        writer.flush()
        _finish(turn, "interrupted")
        raise
    except Exception:
        log.exception("chat turn failed")
        yield writer.emit("error", _problem_data(Problem(500, "Internal Server Error",
                                                         "The turn failed on our side.", code="internal")))
        writer.flush()
        _finish(turn, "error", {"title": "internal"})

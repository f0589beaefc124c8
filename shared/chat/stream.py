"""`POST /api/chat/stream`: one assistant turn, relayed from the agent machine to the browser.

Order of events (fixed): `session` first; then `status`, `token`, `tool` as they come; ending with
`done {usage, credits}` or `error` (a problem object). Ids count from 1 within the turn. Every event
is also written to `turn_events` and broadcast on `session:{id}` in ~50 ms frames.

Money (ARCHITECTURE §5b): opening a turn holds credits (the agent's price part + the metered
allowance) in the transaction that creates it, or answers 402 and creates nothing — so parallel
turns cannot outrun the balance. However the turn ends (`done`, an `error`, the client gone for
good, the server shutting down) it is closed with what it used (`shared.chat.usage`) and settled at
once, which converts or releases the hold; the reaper settles what a dead function left behind.

Time (issue 9): a function may live FUNCTION_MAX_DURATION_S. A turn still running
CHAT_HANDOFF_MARGIN_S before that is handed to a worker (`shared.chat.handoff`): the route writes
what it relayed, asks the bridge to hold the run, defers `continue_turn` with the bridge event it
relayed last, and ends its response without a terminal event; the client resumes with
`Last-Event-ID` (`GET /api/chat/stream/{turn_id}`) and follows what the worker writes. The worker
runs the same relay (`shared.chat.relay`) and closes the turn the same way.

Streams per user are capped (`shared.chat.stream_leases`): the route's turn takes its lease in the
transaction that opens it, after the hold, so a 402 stays a 402 and a 429 leaves nothing behind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime
from typing import Any

from shared.auth import User
from shared.chat.frames import TurnWriter
from shared.chat.models import ChatRequest
from shared.chat.relay import OpenedTurn, RelayPosition, finish_done, finish_error, relay_upstream
from shared.chat.stream_leases import StreamKind, StreamLease
from shared.chat.timing import TurnTrace
from shared.chat.upstream import MachineTarget, UpstreamError, open_turn_stream
from shared.chat.usage import TurnMeter, close_turn
from shared.data import get_db
from shared.problems import Problem, conflict, not_found
from shared.ratelimit import RateLimit
from shared.security import canary
from shared.security.account_gate import account_deleted

log = logging.getLogger("openagents.chat")


class _Raced(Exception):
    pass


def agent_price(instance: dict[str, Any], *, session_paid: bool) -> int:
    """The agent's part of the next turn's price, which the turn holds: `per_task` every turn,
    `per_session` until a turn of the session has paid it, `free` none."""
    if instance["pricing_model"] == "free" or (instance["pricing_model"] == "per_session" and session_paid):
        return 0
    return int(instance["credits_price"])


class _Unusual(Exception):
    """The one-statement opening met what only the step-by-step one decides (a repeated
    client_message_id, a session not found); it wrote nothing."""


def open_turn(user: User, req: ChatRequest, *, lease: StreamKind | None = None,
              limit: RateLimit | None = None) -> OpenedTurn:
    """One transaction: the route's rate limit when `limit` names it (429 over it: the chat route
    leaves its count to this transaction, `limit_in_handler`), the account (401 when it was deleted:
    `gate_in_handler`, likewise), the instance, the session, the turn with its hold (or 402, rolling
    all of it back), the stream's lease when `lease` names its kind (or 429, likewise), and both
    messages.

    In front of the first token, so one statement (issue 14): `private.chat_open_turn` does it all,
    and goes out with the transaction's setup and its COMMIT in one round trip — where pipelining
    the statements took two and the commit, and one after another eleven. Whatever it does not
    expect (a repeated client_message_id above all, which attaches to the existing turn) goes to the
    step-by-step opening, which decides."""
    import psycopg

    try:
        return _open_in_one(user, req, lease, limit)
    except _Unusual:  # the limit was counted, and the count kept
        return _open_stepwise(user, req, lease)
    except psycopg.Error:  # rolled back, the count with it
        if limit is not None:
            from shared import ratelimit

            ratelimit.enforce(limit, user.id)
        return _open_stepwise(user, req, lease)


def _open_in_one(user: User, req: ChatRequest, lease: StreamKind | None,
                 limit: RateLimit | None = None) -> OpenedTurn:
    from uuid import uuid4

    from shared import ratelimit
    from shared.billing.ledger import hold_size, metered_allowance, payment_required_for
    from shared.chat import stream_leases
    from shared.config import get_settings

    s = get_settings()
    session_id, turn_id, user_msg, asst_msg = (str(uuid4()) for _ in range(4))
    rate_limit, rate_window = ratelimit.effective(limit) if limit is not None else (0, 1)
    # Setup, call and COMMIT in one round trip; an outcome other than `opened` wrote nothing but the
    # rate limit's count.
    row = get_db().service_once("chat_open_turn", user_id=user.id, instance_id=req.instance_id,
                                session_id=req.session_id, ids=[session_id, turn_id, user_msg, asst_msg],
                                client_message_id=req.client_message_id, message=req.message,
                                metered=metered_allowance(), lease_kind=lease, cap=s.CHAT_STREAMS_PER_USER,
                                ttl_s=s.FUNCTION_MAX_DURATION_S,
                                rate_key=ratelimit.key_of(limit, user.id) if limit is not None and rate_limit > 0 else None,
                                rate_limit=rate_limit, rate_window_s=rate_window)
    assert row is not None
    outcome = row["outcome"]
    if outcome == "rate_limited":
        assert limit is not None
        raise ratelimit.refusal_of(limit, int(row["retry_after"]))
    if outcome == "deleted":
        raise account_deleted()
    if outcome == "not_found":
        raise not_found("instance")
    if outcome == "unusual":
        raise _Unusual
    if outcome == "insufficient":
        raise payment_required_for(hold_size(int(row["price"])), int(row["available"]))
    if outcome == "too_many":
        raise stream_leases.too_many_streams(int(row["retry_after"]), s.CHAT_STREAMS_PER_USER)
    slot = stream_leases.StreamLease(str(row["lease_id"])) if row["lease_id"] is not None else None
    return OpenedTurn(user.id, str(req.instance_id), str(row["agent_id"]), str(row["session_id"]), turn_id, user_msg,
                      asst_msg, req.message, row["instance_status"], attached=False, lease=slot)


def _open_stepwise(user: User, req: ChatRequest, lease: StreamKind | None) -> OpenedTurn:
    """`open_turn` one statement after another: every case, the repeated client_message_id and a
    lost race for it included."""
    from shared.billing.ledger import reserve_turn

    db = get_db()
    try:
        with db.service() as tx:
            deleted = tx.one("account_is_deleted", user_id=user.id)
            if deleted is not None and deleted["deleted"]:
                raise account_deleted()
            inst = tx.one("chat_instance", instance_id=req.instance_id, user_id=user.id)
            if inst is None:
                raise not_found("instance")
            existing = tx.one("turn_by_client_id", user_id=user.id, client_message_id=req.client_message_id)
            if existing is not None:
                return _attached(user, inst, existing, req, _lease(tx, user, lease))
            session_paid = False
            if req.session_id is not None:
                if tx.one("session_of_user", session_id=req.session_id, user_id=user.id,
                          instance_id=req.instance_id) is None:
                    raise not_found("session")
                session_id = str(req.session_id)
                session_paid = inst["pricing_model"] == "per_session" and bool(
                    tx.scalar("chat_session_paid", session_id=session_id))
            else:
                session_id = str(tx.scalar("session_create", user_id=user.id, instance_id=req.instance_id,
                                           title=req.message, channel="web"))
            turn_id = tx.scalar("turn_create", session_id=session_id, user_id=user.id,
                                instance_id=req.instance_id, client_message_id=req.client_message_id)
            if turn_id is None:
                raise _Raced  # rolls back the session this request made
            # Under the balance lock; a 402 here rolls back the turn and any session just made.
            reserve_turn(tx, user.id, str(turn_id), agent_price(inst, session_paid=session_paid))
            slot = _lease(tx, user, lease)
            common = {"session_id": session_id, "user_id": user.id, "turn_id": turn_id}
            user_msg = tx.scalar("message_create", role="user", content=req.message, **common)
            asst_msg = tx.scalar("message_create", role="assistant", content="", **common)
            tx.execute("turn_link_messages", turn_id=turn_id, user_message_id=user_msg, assistant_message_id=asst_msg)
            tx.execute("session_touch", session_id=session_id)
    except _Raced:
        with db.service() as tx:
            existing = tx.one("turn_by_client_id", user_id=user.id, client_message_id=req.client_message_id)
            assert existing is not None and inst is not None
            return _attached(user, inst, existing, req, _lease(tx, user, lease))
    return OpenedTurn(user.id, str(inst["id"]), str(inst["agent_id"]), session_id, str(turn_id), str(user_msg),
                      str(asst_msg), req.message, inst["status"], attached=False, lease=slot)


def _lease(tx: Any, user: User, kind: StreamKind | None) -> StreamLease | None:
    from shared.chat import stream_leases

    return stream_leases.acquire(tx, user.id, kind) if kind is not None else None


def _attached(user: User, inst: dict[str, Any], existing: dict[str, Any], req: ChatRequest,
              lease: StreamLease | None) -> OpenedTurn:
    if str(existing["instance_id"]) != str(inst["id"]):
        raise conflict("This client_message_id was already used for another agent.", code="duplicate-client-message-id")
    return OpenedTurn(user.id, str(inst["id"]), str(inst["agent_id"]), str(existing["session_id"]),
                      str(existing["id"]), None, None, req.message, inst["status"], attached=True, lease=lease)


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


def _cached_target(instance_id: str, load: Callable[[str], MachineTarget]) -> MachineTarget:
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


class _HandOff(Exception):
    pass


def stream_turn(turn: OpenedTurn, *, grace_s: float | None = None, deadline: float | None = None,
                trace: TurnTrace | None = None) -> Iterator[bytes]:
    """The browser's side: relays what `_relay` produces; when the browser goes away, the relay runs
    on without it (see `_Control`), so a reload can resume the same turn. At `deadline` (monotonic;
    default: the function's limit less the handoff margin, from now) the turn goes to a worker.
    `trace` takes the benchmark's marks (`shared.chat.timing`)."""
    from shared.chat import handoff

    if grace_s is None:
        from shared.config import get_settings

        grace_s = get_settings().CHAT_RESUME_GRACE_S
    control = _Control(grace_s)
    trace = trace or TurnTrace()
    relay = _relay(turn, control, handoff.deadline() if deadline is None else deadline, trace)
    try:
        for chunk in relay:
            timed = trace.marks is not None and chunk.startswith(b"id: ") and b"\nevent: token\n" in chunk[:40]
            if timed:
                trace.mark("token_in")
            try:
                yield chunk
            except GeneratorExit:
                control.client_left()
                for _ in relay:  # no more yields to a closed connection: just finish the relay
                    pass
                return
            if timed:
                trace.first_token_written(turn.turn_id)
    finally:
        relay.close()


def _relay(turn: OpenedTurn, control: _Control, deadline: float, trace: TurnTrace) -> Generator[bytes, None, None]:
    from shared.chat import handoff

    writer = TurnWriter(turn_id=turn.turn_id, session_id=turn.session_id, user_id=turn.user_id)
    meter = TurnMeter(turn.message)  # what the turn used, however it ends
    position = RelayPosition()
    handed_off = False

    def between() -> None:
        if control.should_cancel(turn.turn_id):
            # Leaving the `with` closes the upstream stream: the bridge cancels the run.
            raise _Cancelled
        if time.monotonic() >= deadline:
            raise _HandOff

    # `session` is numbered first and persisted with the first frame (the turn row exists already;
    # flushing here would put a round trip in front of the first token). Its bytes wait until the
    # bridge has the turn: written before, they would hold up the request to the agent (issue 14);
    # written then, they go out while the agent works. A machine that must wake first announces it
    # at once, since the client then waits seconds.
    session = writer.emit("session", {"session_id": turn.session_id, "turn_id": turn.turn_id,
                                      "message_id": turn.assistant_message_id})
    lead: bytes | None = session
    try:
        from shared.lifecycle import needs_wake

        if needs_wake(turn.status):
            yield session
            lead = None
        target = yield from _reach_machine(turn, writer)
        trace.mark("target")
        meter.start()
        if time.monotonic() >= deadline:  # waking took the function's time: the worker opens the turn
            if lead is not None:
                yield lead
                lead = None
            writer.flush()
            handoff.hand_off(turn, target, position, writer.seq, meter)
            handed_off = True
            return
        with open_turn_stream(target, turn_id=turn.turn_id, session_key=handoff.session_key(turn.session_id),
                              message=turn.message) as events:
            position.opened = True
            trace.mark("upstream")
            if lead is not None:
                yield lead
                lead = None
            guard = canary.stream_guard(turn.instance_id, user_id=turn.user_id, reference=turn.turn_id)
            try:
                yield from relay_upstream(events, writer, meter, position, between=between, guard=guard)
            except _HandOff:
                # Still inside the `with`: the bridge is asked to hold the run before this stream closes.
                # The text the guard holds back goes to the worker, whose guard goes on from it.
                writer.flush()
                handoff.hand_off(turn, target, position, writer.seq, meter, held=guard.finish())
                handed_off = True
                return
            if position.finished:
                # Still in the block: the stream's own end is read once the client has its `done`
                # (`shared.bridge.client.TurnEvents`), and the connection is kept for the next turn.
                yield from finish_done(turn, writer, meter)
        if not position.finished:
            raise UpstreamError(Problem(502, "Bad Gateway", "The agent's stream ended before it finished.",
                                        code="agent-stream-ended"))
    except _Cancelled:
        writer.flush()
        close_turn(turn, "interrupted", meter)
        log.info("turn cancelled: the client left and did not come back")
    except UpstreamError as exc:
        _targets.pop(turn.instance_id, None)
        if lead is not None:
            yield lead
        yield from finish_error(turn, writer, meter, exc.problem)
    except GeneratorExit:
        if not handed_off:
            # Closed without draining (the server shut down): charged for what it streamed so far.
            writer.flush()
            close_turn(turn, "interrupted", meter)
        raise
    except Exception:
        if handed_off:
            raise
        log.exception("chat turn failed")
        if lead is not None:
            yield lead
        yield from finish_error(turn, writer, meter, Problem(500, "Internal Server Error",
                                                             "The turn failed on our side.", code="internal"),
                                {"title": "internal"})

"""The agent's turn for a relay message: opened, paid and closed exactly as web chat does, the reply
collected whole from the bridge.

    answer(route, msg, inbox) → Answer(text) or Answer(notice=…) when the agent cannot answer

Money (ARCHITECTURE §5b) is web chat's own code: `shared.chat.stream.open_turn` holds the credits in
the transaction that creates the turn (or raises 402 and creates nothing: the user gets a polite
notice and the agent is never called), and `shared.chat.usage.close_turn` records usage once and
settles. The session is the external chat's (one per chat and instance, channel = the relay); the
turn's client_message_id is `relay:<inbox id>:<attempt>`, so a retried job never reuses a turn.

A job killed mid-turn leaves its turn `streaming`; the retry settles it as interrupted (what it used
is charged, its hold ends) and asks again. A job killed after the turn finished finds the stored reply
and sends that, without asking the agent twice.

The bridge call is in one place, `_collect`, through `shared.bridge.client`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from shared import logs
from shared.auth import User
from shared.data import get_db
from shared.problems import Problem
from shared.relays.models import Incoming

log = logging.getLogger("openagents.relays")

MAX_MESSAGE = 32000  # ChatRequest's limit

NO_CREDITS = ("You're out of credits, so your agent can't answer right now. Top up or change your plan on "
              "OpenAgents, then send your message again.")
FAILED = "Sorry, your agent couldn't finish that answer. Please try again in a moment."
EMPTY = "(Your agent finished without saying anything.)"


@dataclass(frozen=True, slots=True)
class Route:
    connection_id: str
    user_id: str
    instance_id: str
    status: str


@dataclass(frozen=True, slots=True)
class Answer:
    text: str | None = None  # the agent's reply
    notice: str | None = None  # what to say instead when there is no reply
    turn_id: str | None = None


class _TurnFailed(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


def _session(route: Route, msg: Incoming) -> str:
    with get_db().service() as tx:
        session_id = tx.scalar("relay_session_for_chat", user_id=route.user_id, instance_id=route.instance_id,
                               channel=msg.relay, chat_id=msg.chat_id, title=msg.text or msg.relay)
    assert session_id is not None
    return str(session_id)


def _previous(turn_id: str) -> Answer | None:
    """What an earlier attempt's turn left: its reply when it finished; a dead stream is settled."""
    from shared.billing.settlement import settle_turn

    with get_db().service() as tx:
        state = tx.one("relay_turn_state", turn_id=turn_id)
    if state is None:
        return None
    if state["status"] == "done":
        return Answer(text=state["reply"] or EMPTY, turn_id=turn_id)
    if state["status"] == "streaming":
        settle_turn(turn_id, interrupt=True)  # the job that streamed it died: charge what it used
    return None


def _earlier_turns(user_id: str, inbox_id: int, attempt: int, recorded: str | None) -> list[str]:
    """Turns earlier attempts opened: the one recorded on the inbox row, and any an attempt opened but
    died before recording (found by its client_message_id)."""
    found = [recorded] if recorded else []
    with get_db().service() as tx:
        for earlier in range(1, attempt):
            row = tx.one("turn_by_client_id", user_id=user_id, client_message_id=f"relay:{inbox_id}:{earlier}")
            if row is not None and str(row["id"]) not in found:
                found.append(str(row["id"]))
    return found


def answer(route: Route, msg: Incoming, *, inbox_id: int, attempt: int, previous_turn: str | None,
           typing: Any = None) -> Answer:
    """The agent's whole reply to `msg` (or a notice). `typing` is entered around wake + turn."""
    from contextlib import nullcontext

    from shared.chat.models import ChatRequest
    from shared.chat.stream import open_turn

    for turn_id in _earlier_turns(route.user_id, inbox_id, attempt, previous_turn):
        earlier = _previous(turn_id)
        if earlier is not None:
            return earlier
    session_id = _session(route, msg)
    # A relay cannot refuse what the platform already accepted: control and invisible characters go.
    from shared.text import clean_message

    text = clean_message(msg.text)[:MAX_MESSAGE]
    if not text.strip():
        return Answer(notice="I can only read text messages.")
    user = User(id=route.user_id, email=None, claims={"sub": route.user_id, "role": "authenticated"})
    try:
        turn = open_turn(user, ChatRequest(instance_id=UUID(route.instance_id), session_id=UUID(session_id),
                                           message=text, client_message_id=f"relay:{inbox_id}:{attempt}"))
    except Problem as exc:
        if exc.status == 402:
            logs.log(log, logging.INFO, "relay message not answered: out of credits", user_id=route.user_id,
                     instance_id=route.instance_id)
            return Answer(notice=NO_CREDITS)
        if exc.status == 404:
            return Answer(notice="The agent this chat was linked to no longer exists. Link another one.")
        raise
    with get_db().service() as tx:
        tx.execute("relay_inbox_set_turn", inbox_id=inbox_id, turn_id=turn.turn_id)
    with typing if typing is not None else nullcontext():
        return _run(turn, msg, session_id)


def _run(turn: Any, msg: Incoming, session_id: str) -> Answer:
    from shared.chat.usage import TurnMeter, close_turn
    from shared.lifecycle import machine_target, needs_wake, wake
    from shared.lifecycle.errors import LifecycleError

    meter = TurnMeter(turn.message)
    try:
        if needs_wake(turn.status):
            logs.log(log, logging.INFO, "relay message wakes its agent", instance_id=turn.instance_id,
                     status=turn.status)
            wake(turn.instance_id)
        elif turn.status != "running":
            raise _TurnFailed(Problem(409, "Conflict", f"Your agent is {turn.status} and can't answer right now.",
                                      code="instance-not-running"))
        target = machine_target(turn.instance_id)
        meter.start()
        reply = _collect(target, turn_id=turn.turn_id, session_key=f"{msg.relay}:{session_id}",
                         message=turn.message, channel=msg.relay, meter=meter)
    except LifecycleError as exc:
        detail = exc.detail if isinstance(exc, Problem) else str(exc)
        close_turn(turn, "error", meter, {"title": "agent unavailable", "detail": detail})
        return Answer(notice=f"Your agent can't answer right now: {detail}", turn_id=turn.turn_id)
    except _TurnFailed as exc:
        close_turn(turn, "error", meter, exc.problem.to_dict())
        notice = exc.problem.detail if exc.problem.code == "instance-not-running" else FAILED
        return Answer(notice=notice, turn_id=turn.turn_id)
    from shared.security import canary  # the prompt-injection tripwire: a reply holding it is refused

    text = canary.screen(turn.instance_id, reply.strip(), channel=msg.relay, reference=turn.turn_id) or EMPTY
    with get_db().service() as tx:  # the answer first: a job killed after this sends it without asking again
        tx.execute("relay_turn_reply", message_id=turn.assistant_message_id, content=text)
    close_turn(turn, "done", meter)
    return Answer(text=text, turn_id=turn.turn_id)


def _collect(target: Any, *, turn_id: str, session_key: str, message: str, channel: str, meter: Any) -> str:
    """The bridge's turn (through the SSE gateway), its tokens joined; `_TurnFailed` when it failed."""
    from shared.bridge import client, protocol

    parts: list[str] = []
    try:
        with client.bridge_client().turn(target, turn_id=turn_id, session_key=session_key, message=message,
                                         channel=channel) as events:
            for ev in events:
                if not isinstance(ev, protocol.Event):
                    continue  # heartbeats
                data = ev.data if isinstance(ev.data, dict) else {}
                if ev.event == protocol.TOKEN:
                    meter.token()
                    parts.append(str(data.get("text", "")))
                elif ev.event == protocol.DONE:
                    meter.report(data.get("usage"))
                    return "".join(parts)
                elif ev.event == protocol.ERROR:
                    meter.report(data.get("usage"))
                    raise _TurnFailed(Problem(502, str(data.get("title") or "Agent error"),
                                              str(data.get("detail") or "The agent failed."), code="agent-error"))
    except client.BridgeError as exc:
        raise _TurnFailed(Problem(502, "Bad Gateway", f"The agent could not be reached ({exc.detail}).",
                                  code="agent-unavailable")) from None
    raise _TurnFailed(Problem(502, "Bad Gateway", "The agent's stream ended before it finished.",
                              code="agent-stream-ended"))

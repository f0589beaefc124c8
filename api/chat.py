"""Chat: streamed turns, resume, live session following, history."""

from __future__ import annotations

import re

from flask import Response, request, stream_with_context

from shared import ratelimit
from shared.chat import history, replay, stream, stream_leases, timing
from shared.chat.models import ChatRequest, HistoryQuery, MessageOut, SessionOut
from shared.pagination import Page
from shared.problems import bad_request
from shared.streaming.sse import STREAM_HEADERS
from shared.web import RequestContext, Router, create_app

router = Router("chat")


def _sse(body) -> Response:  # type: ignore[no-untyped-def]
    return Response(stream_with_context(body), status=200, mimetype="text/event-stream", headers=STREAM_HEADERS)


# gate_in_handler, limit_in_handler: the turn's opening statement refuses a deleted account and counts
# the rate limit (two round trips fewer in front of the first token).
@router.post("/api/chat/stream", body=ChatRequest, stream=True, max_body=64 * 1024, errors=(402, 404, 409, 413, 429),
             rate_limit=ratelimit.CHAT, gate_in_handler=True, limit_in_handler=True)
def chat_stream(ctx: RequestContext, body: ChatRequest) -> Response:
    """Send a message; the answer streams back as server-sent events. A turn that outlives the
    function ends its stream without `done`: resume it with `Last-Event-ID`. 429 `too-many-streams`
    when the user has CHAT_STREAMS_PER_USER streams open."""
    trace = timing.TurnTrace()
    turn = stream.open_turn(ctx.user, body, lease="chat", limit=ratelimit.CHAT)
    trace.mark("opened")
    if turn.attached:
        return _sse(stream_leases.Leased(turn.lease, replay.replay_turn(ctx.user, turn.turn_id, 0)))
    return _sse(stream_leases.Leased(turn.lease, stream.stream_turn(turn, trace=trace)))


@router.get("/api/chat/stream/{turn_id:uuid}", stream=True, errors=(400, 404, 429))
def chat_resume(ctx: RequestContext, turn_id: str) -> Response:
    """Resume a turn's stream after `Last-Event-ID` (replay, then the live tail). It ends before the
    function's time is up, with or without the terminal event: resume again after the last id."""
    raw = request.headers.get("Last-Event-ID", "0").strip() or "0"
    if not re.fullmatch(r"\d{1,9}", raw):
        raise bad_request("Last-Event-ID must be an event id from this turn.", code="invalid-last-event-id")
    replay.check_turn(ctx.user, turn_id)
    lease = stream_leases.acquire_now(ctx.user.id, "resume")
    return _sse(stream_leases.Leased(lease, replay.replay_turn(ctx.user, turn_id, int(raw))))


@router.get("/api/sessions/{session_id:uuid}/events", stream=True, errors=(404, 429))
def session_events(ctx: RequestContext, session_id: str) -> Response:
    """Follow a session live (the local stand-in for a Realtime subscription on `session:{id}`). It
    ends before the function's time is up: reconnect."""
    replay.check_session(ctx.user, session_id)
    lease = stream_leases.acquire_now(ctx.user.id, "follow")
    return _sse(stream_leases.Leased(lease, replay.follow_session(ctx.user, session_id)))


@router.get("/api/instances/{instance_id:uuid}/sessions", query=HistoryQuery, response=Page[SessionOut], errors=(404,))
def instance_sessions(ctx: RequestContext, instance_id: str, query: HistoryQuery) -> Page[SessionOut]:
    """An instance's chat sessions, newest first."""
    return history.sessions(ctx.user, instance_id, query)


@router.get("/api/sessions/{session_id:uuid}/messages", query=HistoryQuery, response=Page[MessageOut], errors=(404,))
def session_messages(ctx: RequestContext, session_id: str, query: HistoryQuery) -> Page[MessageOut]:
    """A session's messages, oldest first."""
    return history.messages(ctx.user, session_id, query)


app = create_app(__name__, [router])

"""Chat history: an instance's sessions and a session's messages, read as the user (RLS)."""

from __future__ import annotations

from shared.auth import User
from shared.chat.models import HistoryQuery, MessageOut, SessionOut
from shared.data import get_db
from shared.pagination import Page, decode_cursor, page_of
from shared.problems import not_found


def sessions(user: User, instance_id: str, query: HistoryQuery) -> Page[SessionOut]:
    after = decode_cursor(query.cursor, ("last_message_at", "id"))
    with get_db().user(user.claims) as tx:
        if tx.one("instance_visible", instance_id=instance_id) is None:
            raise not_found("instance")
        rows = tx.all("instance_sessions", instance_id=instance_id, limit=query.limit + 1,
                      after_at=after["last_message_at"] if after else None, after_id=after["id"] if after else None)
    return Page[SessionOut](**page_of(rows, query.limit, ("last_message_at", "id"), SessionOut))


def messages(user: User, session_id: str, query: HistoryQuery) -> Page[MessageOut]:
    after = decode_cursor(query.cursor, ("created_at", "id"))
    with get_db().user(user.claims) as tx:
        if tx.one("session_for_user", session_id=session_id) is None:
            raise not_found("session")
        rows = tx.all("session_messages", session_id=session_id, limit=query.limit + 1,
                      after_at=after["created_at"] if after else None, after_id=after["id"] if after else None)
    return Page[MessageOut](**page_of(rows, query.limit, ("created_at", "id"), MessageOut))

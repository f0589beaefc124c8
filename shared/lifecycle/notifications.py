"""`GET /api/notifications`: the user's notifications, newest first (lifecycle errors and others)."""

from __future__ import annotations

from shared.auth import User
from shared.data import acting_as
from shared.lifecycle.models import Notification, NotificationQuery, time_cursor
from shared.pagination import Page, page_of


def list_notifications(user: User, query: NotificationQuery) -> Page[Notification]:
    after = time_cursor(query.cursor)
    with acting_as(user) as tx:
        rows = tx.all("notifications_list", user_id=user.id, unread=query.unread,
                      after_created=after["created_at"] if after else None, after_id=after["id"] if after else None,
                      limit=query.limit + 1)
    return Page[Notification](**page_of(rows, query.limit, ("created_at", "id"), Notification))

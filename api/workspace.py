"""Workspace routes."""

from __future__ import annotations

from shared.lifecycle.models import Notification, NotificationQuery
from shared.lifecycle.notifications import list_notifications
from shared.pagination import Page
from shared.web import RequestContext, Router, create_app

router = Router("workspace")


@router.get("/api/notifications", query=NotificationQuery, response=Page[Notification])
def notifications(ctx: RequestContext, query: NotificationQuery) -> Page[Notification]:
    """Your notifications, newest first."""
    return list_notifications(ctx.user, query)


app = create_app(__name__, [router])

"""The audit log of security-relevant actions: keys, SSH, hire/destroy, plan changes, caps, admin
decisions, account deletion, canary trips.

`record` writes one `audit_log` row in the caller's transaction, so the row exists exactly when the
action it describes committed. `user_id` is the account the action belongs to (the actor); each user
reads their own rows (`GET /api/me/audit`, RLS). Details are facts about the action — ids, names,
counts — never a secret or a message's text: the log outlives what it describes.

Action names are `<area>.<verb>` (checked by the table): `instance.hired`, `instance.destroy_requested`,
`ssh.configured`, `ssh.revoked`, `plan.changed`, `account.deleted`, `canary.tripped`, `review.decided`,
and whatever keys and caps record (`keys.stored`, `caps.changed`, …).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import Field

from shared.data import Tx, acting_as
from shared.models import Model
from shared.pagination import Page, PageQuery, decode_cursor, page_of

if TYPE_CHECKING:
    from shared.auth import User

_MAX_DETAIL_CHARS = 4000


def record(tx: Tx, user_id: str | UUID | None, action: str, target: str | None = None,
           details: dict[str, Any] | None = None) -> None:
    """One audit row in `tx` (any role that may insert: the server paths run as service_role)."""
    data = json.dumps(details or {}, default=str, separators=(",", ":"))
    if len(data) > _MAX_DETAIL_CHARS:
        # Details are ids and counts; one this long is a bug, and the action must still be recorded.
        data = json.dumps({"truncated": True, "keys": sorted((details or {}).keys())[:50]})
    tx.execute("audit_insert", actor_id=str(user_id) if user_id else None, action=action,
               target=target[:200] if target else None, data=data)


class AuditEntry(Model):
    id: int
    action: str
    target: str | None
    details: dict[str, Any] = Field(description="Facts about the action (ids, names, counts).")
    created_at: datetime


class AuditQuery(PageQuery):
    pass


def my_audit(user: User, query: AuditQuery) -> Page[AuditEntry]:
    """The signed-in user's own rows, newest first (RLS: own rows; admins are limited to theirs here too)."""
    after = decode_cursor(query.cursor, {"id": int})
    with acting_as(user) as tx:
        rows = tx.all("audit_page", actor_id=user.id, after_id=after["id"] if after else None,
                      limit=query.limit + 1)
    return Page[AuditEntry](**page_of(rows, query.limit, ("id",), AuditEntry))

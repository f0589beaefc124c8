"""Operator credit grants and revocations: one `adjustment` ledger entry each (private.ledger_adjust,
locked and keyed like every movement) and its audit row, in one transaction.

The idempotency key defaults to one derived from the user, the amount and the reason, so running the
same command twice (a retried shell line) moves credits once; a deliberate second grant of the same
amount for the same reason passes its own `key`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel

from shared.admin import AdminError, audited, operator
from shared.admin.accounts import find_user
from shared.billing.ledger import Entry
from shared.data import get_db

Direction = Literal["grant", "revoke"]


class Adjusted(BaseModel):
    user_id: str
    email: str | None
    direction: Direction
    credits: int
    reason: str
    key: str
    entry: Entry


def _default_key(user_id: str, delta: int, reason: str) -> str:
    digest = hashlib.sha256(f"{user_id}\n{delta}\n{reason}".encode()).hexdigest()[:32]
    return f"admin:adjust:{digest}"


def adjust(ref: str, direction: Direction, credits: int, reason: str, *, key: str | None = None) -> Adjusted:
    if credits <= 0:
        raise AdminError("credits must be a positive number")
    reason = reason.strip()
    if len(reason) < 3:
        raise AdminError("a reason is required (--reason)")
    delta = credits if direction == "grant" else -credits
    with get_db().service() as tx:
        user = find_user(tx, ref)
        k = key or _default_key(str(user.id), delta, reason)
        reference = json.dumps({"reason": reason[:500], "operator": operator(), "source": "admin"})
        row = tx.one("ledger_adjust", user_id=str(user.id), delta=delta, key=k, reference=reference)
        entry = Entry.model_validate(row)
        if not entry.duplicate:
            audited(tx, str(user.id), "credits_granted" if direction == "grant" else "credits_revoked", str(user.id), credits=credits, reason=reason[:500], ledger_entry=entry.id, key=k,
                    shortfall=entry.shortfall)
    return Adjusted(user_id=str(user.id), email=user.email, direction=direction, credits=credits, reason=reason,
                    key=k, entry=entry)

"""A deleted account's access tokens stop working at once.

Supabase access tokens are self-contained: one minted before `DELETE /api/me` stays valid until it
expires (up to an hour). So every request that arrives with a valid token is also checked against the
profile's `deleted_at` — one indexed primary-key read. A route whose first statement makes that
read itself declares `gate_in_handler` and saves the round trip (the chat stream: it rides in
`private.chat_open_turn`). Without a database configured (unit tests of the web layer) there are no
accounts, deleted or not, and nothing is checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.problems import Problem, unauthorized

if TYPE_CHECKING:
    from shared.auth import User


def refuse_deleted(user: User) -> None:
    from shared.config import get_settings
    from shared.data import get_db

    if not get_settings().DATABASE_URL:
        return
    # In front of every signed-in request: one round trip (issue 14, `Database.service_once`).
    row = get_db().service_once("account_is_deleted", user_id=user.id)
    if row is not None and row["deleted"]:
        raise account_deleted()


def account_deleted() -> Problem:
    """The 401 a deleted account's token gets (also from a route whose own first transaction checks,
    `gate_in_handler` in `shared.web.routes`)."""
    return unauthorized("This account has been deleted.")

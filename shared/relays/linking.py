"""Linking an external chat account to an instance (ARCHITECTURE §5 "Relay message", §6 relays).

    create_link(user, instance_id, relay)   → {token, url, expires_at}; 404 for another user's instance
    consume(relay, token, external user, chat) → the instance now linked, or None (unknown, used, expired)
    route(relay, external_user_id)          → the connection a message goes through, or None
    connections(user, instance_id) / disconnect(user, connection_id)

A token is 24 random bytes, base64url (32 characters: Telegram's deep-link payload allows 64 of
`A-Z a-z 0-9 _ -`); only its SHA-256 is stored. It is single use (consumed by one guarded UPDATE) and
expires after LINK_TTL. Telegram's `url` is the bot's deep link (`/start <token>` arrives in the chat);
for the other relays it is the message to send the bot, `link <token>` (Slack: `/openagents link <token>`,
Discord: `/link token:<token>`).
"""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

from pydantic import Field

from shared.auth import User
from shared.data import Tx, acting_as, get_db
from shared.models import Model
from shared.problems import not_found
from shared.relays.models import Relay

LINK_TTL = timedelta(minutes=15)


class LinkOut(Model):
    token: str = Field(description="single use; expires at `expires_at`")
    url: str = Field(description="Telegram: the bot's deep link; other relays: the message that links, "
                                 "sent to the bot")
    expires_at: datetime


class Connection(Model):
    id: UUID
    instance_id: UUID
    relay: Relay
    external_user_id: str
    external_chat_id: str
    created_at: datetime
    updated_at: datetime


class ConnectionList(Model):
    items: list[Connection]
    next_cursor: str | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_text(relay: Relay, token: str) -> str:
    if relay == "telegram":
        from shared.relays.telegram import deep_link

        return deep_link(token)
    if relay == "slack":
        return f"/openagents link {token}"
    if relay == "discord":
        return f"/link token:{token}"
    return f"link {token}"


def create_link(user: User, instance_id: str, relay: Relay) -> LinkOut:
    token = secrets.token_urlsafe(24)
    expires = datetime.now(UTC) + LINK_TTL
    with get_db().service() as tx:
        if tx.one("relay_link_instance", instance_id=instance_id, user_id=user.id) is None:
            raise not_found("instance")
        row = tx.one("relay_link_create", user_id=user.id, instance_id=instance_id, relay=relay,
                     token_hash=token_hash(token), expires_at=expires)
    assert row is not None
    return LinkOut(token=token, url=link_text(relay, token), expires_at=row["expires_at"])


def consume_in(tx: Tx, relay: str, token: str, *, external_user_id: str, chat_id: str) -> str | None:
    """Binds the external user (and chat) to the token's instance in `tx`; the instance id, or None
    when the token is unknown, of another relay, used or expired."""
    row = tx.one("relay_link_consume", token_hash=token_hash(token), relay=relay)
    if row is None:
        return None
    tx.scalar("relay_connection_upsert", user_id=row["user_id"], instance_id=row["instance_id"], relay=relay,
              external_user_id=external_user_id, external_chat_id=chat_id)
    return str(row["instance_id"])


def connections(user: User, instance_id: str) -> ConnectionList:
    with acting_as(user) as tx:
        if tx.one("instance_visible", instance_id=instance_id) is None:
            raise not_found("instance")
        rows = tx.all("relay_connections_of_instance", instance_id=instance_id)
    return ConnectionList(items=[Connection.model_validate(r) for r in rows])


def disconnect(user: User, connection_id: str) -> None:
    with acting_as(user) as tx:
        if tx.scalar("relay_connection_delete", connection_id=connection_id) is None:
            raise not_found("relay connection")

"""Which gateway messages the relay answers, and what intake records for them.

Answered: a direct message, or a guild message that mentions the bot, from a human (never a bot,
ourselves included: no loops). The bot's mention is removed from the text. A message of files or
stickers only is recorded too (with their count), to be answered "text only, for now". The record
goes through `shared.relays.intake.record` — the same dedupe-and-queue statement as the webhooks —
keyed by the message id, so a message seen twice (a RESUME replaying events) is answered once.
"""

from __future__ import annotations

import re
from typing import Any

from shared.relays.discord import gateway_record
from shared.relays.models import InboxRecord


def _mention(bot_user_id: int) -> re.Pattern[str]:
    return re.compile(rf"<@!?{bot_user_id}>\s*")


def to_payload(message: Any, bot_user_id: int) -> dict[str, Any] | None:
    """The message as the job reads it (`shared.relays.discord.incoming`), or None when not for us."""
    author = message.author
    if getattr(author, "bot", False) or author.id == bot_user_id:
        return None
    is_dm = message.guild is None
    mentioned = any(u.id == bot_user_id for u in message.mentions)
    if not (is_dm or mentioned):
        return None
    content = _mention(bot_user_id).sub("", message.content or "").strip()
    files = len(getattr(message, "attachments", None) or []) + len(getattr(message, "stickers", None) or [])
    if not content and not files:
        return None
    payload: dict[str, Any] = {
        "id": str(message.id), "channel_id": str(message.channel.id),
        "guild_id": str(message.guild.id) if message.guild is not None else None,
        "author": {"id": str(author.id), "username": author.name, "global_name": getattr(author, "global_name", None),
                   "bot": False},
        "content": content,
    }
    if not content:  # only files or stickers: the job answers "text only" (no agent turn)
        payload["attachments"] = files
    return payload


def to_record(message: Any, bot_user_id: int) -> InboxRecord | None:
    payload = to_payload(message, bot_user_id)
    return gateway_record(payload) if payload is not None else None

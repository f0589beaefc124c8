"""Real discord.py `Message` objects built from gateway payloads, for the gateway bot's handler
(no live gateway)."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
from discord.http import HTTPClient
from discord.state import ConnectionState

BOT_ID = 1100000000000000001
USER = {"id": "1600000000000000077", "username": "alice", "discriminator": "0", "avatar": None, "global_name": "Alice"}
_seq = iter(range(1, 10**6))


def _state() -> ConnectionState:
    loop = asyncio.new_event_loop()
    intents = discord.Intents.default()
    intents.message_content = True
    return ConnectionState(dispatch=lambda *a, **k: None, handlers={}, hooks={}, http=HTTPClient(loop), intents=intents)


def message(content: str, *, author: dict[str, Any] = USER, dm: bool = True, mentions: list[dict[str, Any]] | None = None,
            channel_id: str = "1400000000000000077", attachments: list[dict[str, Any]] | None = None) -> discord.Message:
    state = _state()
    data = {"id": str(1500000000000000000 + next(_seq)), "channel_id": channel_id, "author": author,
            "content": content, "timestamp": "2026-12-01T10:00:00.000000+00:00", "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": mentions or [], "mention_roles": [], "attachments": attachments or [],
            "embeds": [], "pinned": False, "type": 0}
    if dm:
        channel: Any = discord.DMChannel(me=None, state=state, data={"id": channel_id, "type": 1, "recipients": [author]})
    else:
        data["guild_id"] = "1200000000000000001"
        guild = discord.Guild(data={"id": "1200000000000000001", "name": "g"}, state=state)
        channel = discord.TextChannel(state=state, guild=guild, data={
            "id": channel_id, "type": 0, "name": "general", "position": 0, "guild_id": guild.id})
    return discord.Message(state=state, channel=channel, data=data)


BOT_USER = {"id": str(BOT_ID), "username": "openagents", "discriminator": "0", "avatar": None, "bot": True}

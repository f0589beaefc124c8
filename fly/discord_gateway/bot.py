"""The discord.py client and its supervisor.

`RelayBot.on_message` hands each message to `handler.to_record` and records it (a thread: the
database driver is synchronous) — the webhook's own dedupe-and-queue statement. `supervise` runs the
client and, when the library gives up on the connection, asks `ReconnectPolicy` whether to resume,
identify anew or stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import discord

from fly.discord_gateway import handler
from fly.discord_gateway.policy import Decision, ReconnectPolicy
from shared import metrics
from shared.relays.models import InboxRecord

log = logging.getLogger("openagents.discord_gateway")

Record = Callable[[Sequence[InboxRecord]], Any]


def intents() -> discord.Intents:
    # DMs and guild messages; message content is needed for @mentions' text (privileged: enable it in
    # the developer portal). Members and presences are not needed.
    i = discord.Intents.none()
    i.guilds = i.guild_messages = i.dm_messages = i.message_content = True
    return i


def _record_default(records: Sequence[InboxRecord]) -> Any:
    from shared.relays import intake

    return intake.record(records)


class RelayBot(discord.Client):
    def __init__(self, *, policy: ReconnectPolicy, record: Record = _record_default) -> None:
        super().__init__(intents=intents())
        self.policy = policy
        self.record = record

    async def on_ready(self) -> None:
        self.policy.on_ready()
        metrics.DISCORD_EVENTS.inc("ready")
        log.info("discord gateway ready as %s", self.user)

    async def on_message(self, message: discord.Message) -> None:
        await self.handle(message)

    async def handle(self, message: Any) -> InboxRecord | None:
        if self.user is None:
            return None
        rec = handler.to_record(message, self.user.id)
        if rec is not None:
            await asyncio.to_thread(self.record, [rec])
            metrics.DISCORD_EVENTS.inc("message_relayed")
        return rec


def _close_code(exc: BaseException) -> int | None:
    return getattr(exc, "code", None) if isinstance(exc, discord.ConnectionClosed) else None


def decide(policy: ReconnectPolicy, exc: BaseException | None, *, has_session: bool) -> Decision:
    """The policy's decision for how a run of the client ended (None: it returned)."""
    if isinstance(exc, discord.LoginFailure):
        return Decision("stop", 0.0, "the bot token was refused")
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return policy.on_close(4014, has_session=has_session)
    return policy.on_close(_close_code(exc) if exc is not None else 1000, has_session=has_session)


async def supervise(token: str, *, policy: ReconnectPolicy | None = None, record: Record = _record_default,
                    sleep: Callable[[float], Any] = asyncio.sleep) -> int:
    policy = policy or ReconnectPolicy()
    while True:
        bot = RelayBot(policy=policy, record=record)
        policy.on_identify()
        error: BaseException | None = None
        try:
            await bot.start(token, reconnect=True)
        except (TimeoutError, discord.DiscordException, OSError, aiohttp.ClientError) as exc:
            error = exc
        finally:
            has_session = bot.ws is not None and getattr(bot.ws, "session_id", None) is not None
            await bot.close()
        decision = decide(policy, error, has_session=has_session)
        metrics.DISCORD_EVENTS.inc(f"disconnect_{decision.action}")
        log.warning("discord gateway connection ended (%s): %s in %.1f s", decision.reason, decision.action,
                    decision.delay_s)
        if decision.action == "stop":
            return 1
        await sleep(decision.delay_s)

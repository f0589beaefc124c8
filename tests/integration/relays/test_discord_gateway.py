"""The Discord gateway bot without a live gateway: its message handler on real discord.py `Message`
objects (built from gateway payloads), through the same intake and job to a channel reply, and its
reconnect policy as a pure class."""

from __future__ import annotations

import asyncio
import random

import discord

from fly.agent.bridge.runtime.offline import offline_answer
from fly.discord_gateway import handler
from fly.discord_gateway.bot import RelayBot, decide
from fly.discord_gateway.policy import DAY_S, ReconnectPolicy
from tests.integration.relays.conftest import drain_relays, inbox
from tests.support.discord_messages import BOT_ID, BOT_USER, USER, message


def test_the_handler_answers_dms_and_mentions_only():
    dm = handler.to_record(message("hello there"), BOT_ID)
    assert dm is not None and dm.relay == "discord" and dm.platform_id.startswith("message:")
    assert dm.payload["message"]["content"] == "hello there" and dm.chat_id == "1400000000000000077"
    mention = handler.to_record(message(f"<@{BOT_ID}> plan my day", dm=False, mentions=[BOT_USER]), BOT_ID)
    assert mention is not None and mention.payload["message"]["content"] == "plan my day"
    assert handler.to_record(message("just chatting", dm=False), BOT_ID) is None  # not for us
    assert handler.to_record(message("beep", author={**USER, "bot": True}), BOT_ID) is None  # another bot
    assert handler.to_record(message("my own reply", author=BOT_USER), BOT_ID) is None  # ourselves: no loop
    assert handler.to_record(message(f"<@{BOT_ID}>", dm=False, mentions=[BOT_USER]), BOT_ID) is None  # nothing asked


def test_the_bot_records_through_intake(relay_env, db):
    bot = RelayBot(policy=ReconnectPolicy())
    bot._connection.user = discord.ClientUser(state=bot._connection, data=BOT_USER)
    msg = message("recorded once")
    rec = asyncio.run(bot.handle(msg))
    again = asyncio.run(bot.handle(msg))  # a RESUME may replay the event
    assert rec is not None and again is not None
    rows = [r for r in inbox(db, "discord") if r["platform_id"] == f"message:{msg.id}"]
    assert len(rows) == 1 and rows[0]["status"] == "queued"


def test_a_linked_user_gets_a_channel_reply(agent, db):
    fake = agent.stack.fakes.discord
    bot = RelayBot(policy=ReconnectPolicy())
    bot._connection.user = discord.ClientUser(state=bot._connection, data=BOT_USER)
    user = {**USER, "id": "1600000000000000088"}
    asyncio.run(bot.handle(message(f"link {agent.link('discord')['token']}", author=user, channel_id="1400000000000000088")))
    drain_relays(db)
    asyncio.run(bot.handle(message("what's the weather?", author=user, channel_id="1400000000000000088")))
    drain_relays(db)
    replies = [c for c in fake.sent("channel_message") if c["channel_id"] == "1400000000000000088"]
    assert [r["content"] for r in replies][0].startswith("Linked!")
    assert replies[-1]["content"] == "".join(offline_answer("what's the weather?", 24))
    assert replies[-1]["enforce_nonce"] is True and replies[-1]["nonce"]
    assert any(c["channel_id"] == "1400000000000000088" for c in fake.sent("typing"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fatal_close_codes_stop():
    policy = ReconnectPolicy(rng=random.Random(1))
    for code in (4004, 4010, 4011, 4012, 4013, 4014):
        assert policy.on_close(code, has_session=True).action == "stop"
    assert decide(policy, discord.LoginFailure("bad token"), has_session=False).action == "stop"


def test_resume_or_identify():
    policy = ReconnectPolicy(rng=random.Random(1))
    for code in (4000, 4001, 4002, 4003, 4005, 4008, 1000, 1001, None):
        assert policy.on_close(code, has_session=True).action == "resume", code
    assert policy.on_close(4007, has_session=True).action == "identify"  # invalid seq
    assert policy.on_close(4009, has_session=True).action == "identify"  # session timed out
    assert policy.on_close(None, has_session=False).action == "identify"


def test_backoff_grows_with_jitter_and_resets_when_ready():
    policy = ReconnectPolicy(base_s=1, cap_s=30, rng=random.Random(7))
    delays = [policy.on_close(4000, has_session=True).delay_s for _ in range(8)]
    ceilings = [min(30, 2 ** i) for i in range(8)]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays) > 2  # it does grow
    policy.on_ready()
    assert policy.on_close(4000, has_session=True).delay_s <= 1


def test_identifies_are_rationed_per_day():
    clock = Clock()
    policy = ReconnectPolicy(identify_budget=3, rng=random.Random(3), clock=clock)
    for _ in range(3):
        policy.on_identify()
        clock.now += 10
    d = policy.on_close(4009, has_session=True)
    assert d.action == "identify" and d.delay_s >= DAY_S - 30 - 1
    clock.now += DAY_S
    assert policy.identifies_today() == 0
    assert policy.on_close(4009, has_session=True).delay_s < 60

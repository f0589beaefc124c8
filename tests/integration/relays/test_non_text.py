"""Messages the agent cannot read — photos, stickers, voice notes, files — get one short "text only"
reply and no agent turn, once per update (a redelivery changes nothing), on every relay."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import discord
import pytest
from telegram import Update

from devstack.emulators.slack.fake import dm_envelope
from fly.discord_gateway import handler
from fly.discord_gateway.bot import RelayBot
from fly.discord_gateway.policy import ReconnectPolicy
from shared.relays.process import TEXT_ONLY
from tests.integration.relays.conftest import RelayStack, drain_relays, inbox
from tests.support.discord_messages import BOT_ID, BOT_USER, message


@pytest.fixture
def stack(relay_stack: RelayStack, db: Any) -> Iterator[RelayStack]:
    """The fakes delivering to the API over HTTP; no agent needed (nothing reaches one)."""
    relay_stack.fakes.target(relay_stack.base_url)
    relay_stack.fakes.reset()
    yield relay_stack


def _no_turns(db: Any, relay: str, platform_ids: list[str]) -> None:
    rows = [r for r in inbox(db, relay) if r["platform_id"] in platform_ids]
    assert len(rows) == len(platform_ids)
    assert all(r["status"] == "done" and r["turn_id"] is None for r in rows), rows


def _telegram_media(fake: Any, user_id: int, kind: str) -> dict[str, Any]:
    update = fake.state.new_update(user_id=user_id, text="-")
    m = update["message"]
    del m["text"]
    file = {"file_id": f"AgAC{kind}{update['update_id']}", "file_unique_id": f"AQAD{update['update_id']}"}
    m[kind] = {
        "photo": [{**file, "width": 90, "height": 67, "file_size": 1200}],
        "sticker": {**file, "type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False},
        "voice": {**file, "duration": 3, "mime_type": "audio/ogg", "file_size": 4100},
    }[kind]
    assert getattr(Update.de_json(update, None).message, kind)  # a real Telegram shape
    return update


def test_telegram_photo_sticker_and_voice(stack, db):
    fake = stack.fakes.telegram
    updates = [_telegram_media(fake, 7301, kind) for kind in ("photo", "sticker", "voice")]
    for u in updates:
        assert fake.deliver(u) == 200
    assert fake.deliver(updates[0]) == 200  # redelivered
    drain_relays(db)
    assert [c["text"] for c in fake.sent(7301)] == [TEXT_ONLY] * 3
    _no_turns(db, "telegram", [str(u["update_id"]) for u in updates])
    group = _telegram_media(fake, 7302, "photo")
    group["message"]["chat"] = {"id": -1007302, "type": "group", "title": "Test group"}
    assert fake.deliver(group) == 200  # a photo in a group, not for the bot: nothing
    drain_relays(db)
    assert fake.sent(-1007302) == []


def test_a_linked_telegram_user_sending_a_sticker_opens_no_turn(agent, db):
    fake = agent.stack.fakes.telegram
    fake.send_user_message(7303, f"/start {agent.link('telegram')['token']}")
    drain_relays(db)
    with db.service() as tx:
        before = tx.sql("select count(*) as n from turns where instance_id = %(i)s",
                        {"i": agent.instance_id}).fetchone()["n"]
    assert fake.deliver(_telegram_media(fake, 7303, "sticker")) == 200
    drain_relays(db)
    assert fake.sent(7303)[-1]["text"] == TEXT_ONLY
    with db.service() as tx:
        assert tx.sql("select count(*) as n from turns where instance_id = %(i)s",
                      {"i": agent.instance_id}).fetchone()["n"] == before


def test_slack_file_share(stack, db):
    fake = stack.fakes.slack
    envelope = dm_envelope(fake.state, "U0FILES01", "")
    envelope["event"].update({"subtype": "file_share", "upload": False, "files": [
        {"id": "F0FILE0001", "name": "photo.png", "title": "photo.png", "mimetype": "image/png", "filetype": "png",
         "user": "U0FILES01", "size": 20480, "mode": "hosted"}]})
    assert fake.deliver_event(envelope).status_code == 200
    assert fake.deliver_event(envelope, retry_num=1).status_code == 200  # Slack's retry: the same event id
    drain_relays(db)
    channel = envelope["event"]["channel"]
    assert [c["text"] for c in fake.sent(channel)] == [TEXT_ONLY]
    _no_turns(db, "slack", [envelope["event_id"]])


def test_whatsapp_image_and_voice(stack, db):
    fake = stack.fakes.whatsapp
    image, resp = fake.send_media("15557300001", "image")
    assert resp.status_code == 200 and resp.json() == {"received": 1, "recorded": 1}
    voice, _ = fake.send_media("15557300001", "audio")
    assert fake.deliver(image).json()["recorded"] == 0  # Meta redelivers
    drain_relays(db)
    assert [c["text"]["body"] for c in fake.sent("15557300001")] == [TEXT_ONLY] * 2
    ids = [n["entry"][0]["changes"][0]["value"]["messages"][0]["id"] for n in (image, voice)]
    _no_turns(db, "whatsapp", ids)


def test_discord_attachments_only(stack, db):
    fake = stack.fakes.discord
    bot = RelayBot(policy=ReconnectPolicy())
    bot._connection.user = discord.ClientUser(state=bot._connection, data=BOT_USER)
    msg = message("", channel_id="1400000000000000073", attachments=[{
        "id": "1500000000000000973", "filename": "cat.png", "size": 2048, "url": "https://cdn.discordapp.com/a/cat.png",
        "proxy_url": "https://media.discordapp.net/a/cat.png", "content_type": "image/png"}])
    record = handler.to_record(msg, BOT_ID)
    assert record is not None and record.payload["message"]["attachments"] == 1
    assert handler.to_record(message("", channel_id="1400000000000000073"), BOT_ID) is None  # nothing at all
    asyncio.run(bot.handle(msg))
    asyncio.run(bot.handle(msg))  # a RESUME replays it
    drain_relays(db)
    replies = [c for c in fake.sent("channel_message") if c["channel_id"] == "1400000000000000073"]
    assert [r["content"] for r in replies] == [TEXT_ONLY]
    _no_turns(db, "discord", [f"message:{msg.id}"])

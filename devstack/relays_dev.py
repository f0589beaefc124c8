"""Chat relays for `openagents dev`: the local fakes of Telegram, Slack, WhatsApp and Discord, each
delivering inbound updates to this stack's intake functions and receiving the bot's replies.

    fakes, env = start_relay_fakes(api_base="http://127.0.0.1:8080", settings=os.environ)
    os.environ.update(env)          # TELEGRAM_API_BASE, SLACK_API_BASE, WHATSAPP_API_BASE, DISCORD_API_BASE
    ...
    for fake in fakes: fake.stop()

Ports are fixed (RELAY_FAKE_PORT_BASE, default 18081: Telegram, +1 Slack, +2 WhatsApp, +3 Discord) so
`python -m devstack.emulators.telegram.demo` finds them. The fakes check the same tokens and secrets
the platform is configured with (the generated dev defaults), and Discord's signs with
DISCORD_DEV_PRIVATE_KEY, the pair of DISCORD_PUBLIC_KEY.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

DEFAULT_PORT_BASE = 18081


def port_base() -> int:
    return int(os.environ.get("RELAY_FAKE_PORT_BASE", DEFAULT_PORT_BASE))


def start_relay_fakes(*, api_base: str, settings: Mapping[str, str]) -> tuple[list[Any], dict[str, str]]:
    from devstack.emulators.discord import DiscordFake
    from devstack.emulators.slack import SlackFake
    from devstack.emulators.telegram import TelegramFake
    from devstack.emulators.whatsapp import WhatsAppFake

    base = port_base()
    fn = api_base.rstrip("/") + "/functions/v1"
    started: list[Any] = []
    try:
        tg = TelegramFake(token=settings["TELEGRAM_BOT_TOKEN"], username=settings.get("TELEGRAM_BOT_USERNAME", "bot"),
                          webhook_url=f"{fn}/telegram-webhook", secret=settings["TELEGRAM_WEBHOOK_SECRET"],
                          port=base).start()
        started.append(tg)
        slack = SlackFake(token=settings["SLACK_BOT_TOKEN"], signing_secret=settings["SLACK_SIGNING_SECRET"],
                          port=base + 1).start()
        slack.state.events_url, slack.state.commands_url = f"{fn}/slack-events", f"{fn}/slack-commands"
        started.append(slack)
        wa = WhatsAppFake(token=settings["WHATSAPP_ACCESS_TOKEN"], app_secret=settings["WHATSAPP_APP_SECRET"],
                          phone_number_id=settings["WHATSAPP_PHONE_NUMBER_ID"], port=base + 2).start()
        wa.state.webhook_url = f"{fn}/whatsapp-webhook"
        started.append(wa)
        dc = DiscordFake(application_id=settings["DISCORD_APPLICATION_ID"], bot_token=settings["DISCORD_BOT_TOKEN"],
                         private_key_hex=settings.get("DISCORD_DEV_PRIVATE_KEY"), port=base + 3).start()
        dc.state.interactions_url = f"{fn}/discord-interactions"
        started.append(dc)
    except Exception:
        for fake in started:
            fake.stop()
        raise
    env = {"TELEGRAM_API_BASE": tg.url, "SLACK_API_BASE": slack.url + "/api/",
           "WHATSAPP_API_BASE": wa.url + "/v21.0", "DISCORD_API_BASE": dc.url + "/api/v10"}
    return started, env

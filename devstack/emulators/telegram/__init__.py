"""A local fake of the Telegram Bot API (the methods the relay calls), for `make dev` and tests.

    fake = TelegramFake(token=..., webhook_url=..., secret=...).start()
    TELEGRAM_API_BASE=fake.url            # methods at {url}/bot<token>/<method>, as on api.telegram.org
    fake.send_user_message(user_id, "hi")  # an Update delivered to the webhook as Telegram does it
    fake.sent()                           # every sendMessage / sendChatAction the bot made

Run standalone: `python -m devstack.emulators.telegram` (see `--help`); `python -m
devstack.emulators.telegram.demo` plays a conversation against `make dev`.
"""

from .fake import TelegramFake

__all__ = ["TelegramFake"]

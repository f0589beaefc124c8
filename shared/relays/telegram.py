"""Telegram (CONTRACTS §D): the webhook's verifier and intake, the job's parsing, and sending through
python-telegram-bot pointed at `TELEGRAM_API_BASE` (the Bot API root; methods at
`{base}/bot<token>/<method>`).

Intake (`functions/telegram_webhook.py`):
    `X-Telegram-Bot-Api-Secret-Token` equal (constant time) to TELEGRAM_WEBHOOK_SECRET, else 401;
    unset secret → 503. The body is an `Update` keyed by `update_id`. Messages are recorded: in a
    private chat every one, in a group only commands and messages naming the bot (a photo's caption
    counts). Text goes to the agent; a photo, sticker, voice note, file … is answered "text only, for
    now" with no agent turn. Any other update type, service messages, and a message older than
    Telegram keeps undelivered updates (24 h) — a replay, since a genuine delivery cannot be that old —
    answer 200 and store nothing.

Sending: `sendMessage` (plain text, ≤ 4096 characters a part) and `sendChatAction typing` (lasts ≤ 5 s:
re-sent every 4 s while the agent works). Flood control (`429`, `parameters.retry_after`) comes back
from the library as `RetryAfter` → `RateLimited`.

python-telegram-bot and httpx load on the first send, never at the function's cold start.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from shared.problems import Problem, unauthorized, unavailable
from shared.relays.body import load_body
from shared.relays.models import InboxRecord, Incoming, RateLimited, SendRefused
from shared.web.verifiers import Inbound, register

RELAY: Final = "telegram"
LIMIT = 4096  # sendMessage text, after entity parsing
TYPING_EVERY_S = 4.0
MAX_BODY = 256 * 1024  # an Update is a few KB; large ones (long captions, many entities) stay far below
STALE_AFTER_S = 24 * 3600
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
DEFAULT_API_BASE = "https://api.telegram.org"


@dataclass(frozen=True, slots=True)
class SecretToken:
    """`auth="telegram"`: the secret token set with `setWebhook`, echoed on every delivery."""

    name: str = "telegram"
    errors: tuple[int, ...] = (401, 503)
    max_body: int | None = MAX_BODY
    scheme: dict[str, Any] = field(default_factory=lambda: {
        "type": "apiKey", "in": "header", "name": SECRET_HEADER,
        "description": "The `secret_token` given to setWebhook (TELEGRAM_WEBHOOK_SECRET), compared in constant time"})

    def verify(self, inbound: Inbound) -> None:
        from shared.config import get_settings

        secret = get_settings().TELEGRAM_WEBHOOK_SECRET
        if secret is None or not secret.get_secret_value():
            raise unavailable("Telegram is not configured (TELEGRAM_WEBHOOK_SECRET is not set).",
                              code="relay-not-configured")
        given = inbound.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
            raise unauthorized(f"{SECRET_HEADER} is missing or wrong.")


SECRET_TOKEN = register(SecretToken())


NON_TEXT = ("photo", "sticker", "voice", "audio", "document", "video", "video_note", "animation", "location",
            "venue", "contact", "poll", "dice")


def _non_text(message: dict[str, Any]) -> str | None:
    """What a message without text carries (a photo, a voice note …), if it is one the relay answers."""
    if isinstance(message.get("text"), str):
        return None
    return next((k for k in NON_TEXT if message.get(k)), None)


def _malformed() -> Problem:
    return Problem(400, "Bad Request", "The body is not a Telegram update.", code="malformed-update")


def _mentions_bot(message: dict[str, Any], username: str | None) -> bool:
    text = message.get("text") or ""
    if text.startswith("/"):
        return True
    return bool(username) and f"@{username}".lower() in text.lower()


def parse_update(raw: bytes, *, now: float | None = None) -> list[InboxRecord]:
    """The records a verified body holds (none for update types the relay does not handle)."""
    from shared.config import get_settings

    try:
        update = load_body(raw, where="update")
    except Problem:
        raise _malformed() from None
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int) or isinstance(
            update.get("update_id"), bool):
        raise _malformed()
    message = update.get("message")
    if not isinstance(message, dict):
        return []  # edited messages, callbacks, member updates …: acknowledged, not handled
    chat = message.get("chat")
    sender = message.get("from")
    text = message.get("text")
    kind = _non_text(message)
    if not isinstance(chat, dict) or not isinstance(sender, dict):
        return []
    if (not isinstance(text, str) or not text.strip()) and kind is None:
        return []  # service messages (members joined, pins …): nothing was said
    if sender.get("is_bot") or not isinstance(chat.get("id"), int) or not isinstance(sender.get("id"), int):
        return []
    date = message.get("date")
    if isinstance(date, int) and (now or time.time()) - date > STALE_AFTER_S:
        return []
    if chat.get("type") != "private" and not _mentions_bot(
            {**message, "text": text if isinstance(text, str) else message.get("caption")},
            get_settings().TELEGRAM_BOT_USERNAME):
        return []  # in a group, a photo is for us only when its caption names the bot
    return [InboxRecord(RELAY, str(update["update_id"]), str(chat["id"]), update)]


# --- the processing job ----------------------------------------------------------------------------

def incoming(payload: dict[str, Any]) -> Incoming | None:
    """The message of a recorded update, read through python-telegram-bot's own parser."""
    from telegram import Update

    update = Update.de_json(payload, None)
    msg = update.message
    if msg is None or msg.from_user is None:
        return None
    kind = _non_text(payload.get("message") or {})
    if not msg.text and kind is None:
        return None
    text = msg.text or ""
    from shared.config import get_settings

    username = get_settings().TELEGRAM_BOT_USERNAME
    if username:  # "@bot do this" in a group: the agent gets "do this"
        text = text.replace(f"@{username}", "").strip() or text
    name = " ".join(p for p in (msg.from_user.first_name, msg.from_user.last_name) if p)
    return Incoming(RELAY, str(msg.from_user.id), str(msg.chat.id), text, sent_at=msg.date.timestamp(),
                    reply_to={"chat_id": msg.chat.id, "message_thread_id": msg.message_thread_id}, name=name,
                    unsupported=kind)


def outgoing(msg: Incoming, parts: list[str]) -> list[dict[str, Any]]:
    """The sendMessage call of each part (stored in the outbox before it is sent)."""
    out = []
    for text in parts:
        call: dict[str, Any] = {"method": "sendMessage", "chat_id": msg.reply_to["chat_id"], "text": text}
        if msg.reply_to.get("message_thread_id"):
            call["message_thread_id"] = msg.reply_to["message_thread_id"]
        out.append(call)
    return out


def resend_safe(payload: dict[str, Any]) -> bool:
    """Telegram cannot deduplicate a sendMessage (no idempotency key for bots) nor show a bot the
    chat's history: a part in doubt is never sent again (at most once)."""
    return False


class _Client:
    """One Bot on one event loop of its own thread, for the whole process: the library is asyncio, the
    job and its typing indicator are threads, and both submit calls here."""

    def __init__(self, token: str, base: str) -> None:
        import asyncio

        from telegram import Bot
        from telegram.request import HTTPXRequest

        self.key = (token, base)
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="telegram-bot", daemon=True).start()
        self.bot = Bot(token, base_url=f"{base.rstrip('/')}/bot",
                       request=HTTPXRequest(connection_pool_size=32, read_timeout=20, connect_timeout=10))
        self.ready = False

    def call(self, coro: Any, timeout: float = 60.0) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        try:
            self.call(self.bot.shutdown(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)


_lock = threading.Lock()
_current: _Client | None = None


def _client() -> _Client:
    global _current
    from shared.config import get_settings

    s = get_settings()
    if s.TELEGRAM_BOT_TOKEN is None:
        raise SendRefused("Telegram is not configured (TELEGRAM_BOT_TOKEN is not set).")
    key = (s.TELEGRAM_BOT_TOKEN.get_secret_value(), s.TELEGRAM_API_BASE or DEFAULT_API_BASE)
    with _lock:
        if _current is None or _current.key != key:  # settings changed (tests point it elsewhere)
            old, _current = _current, _Client(*key)
            if old is not None:
                threading.Thread(target=old.close, daemon=True).start()
        current = _current
    if not current.ready:
        # `initialize()` (getMe) once per client, before any send: it checks the token and leaves an
        # open connection in the pool, so a send's in-doubt window is its own exchange only.
        try:
            current.call(current.bot.initialize(), timeout=30)
        except Exception as exc:
            raise _translated(exc, sending=False) from None
        current.ready = True
    return current


def _never_sent(exc: Exception) -> bool:
    """Whether a network failure happened before the request could reach Telegram (connect, pool)."""
    import httpx

    cause = exc.__cause__
    if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    text = str(exc)  # the library words NetworkError as "httpx.<ErrorClass>: …"
    return "httpx.ConnectError" in text or "httpx.ConnectTimeout" in text or "Pool timeout" in text


def _translated(exc: Exception, *, sending: bool = True) -> Exception:
    from telegram import error

    if isinstance(exc, error.RetryAfter):
        # The timedelta the library keeps (its int `retry_after` property is deprecated and warns).
        ra = getattr(exc, "_retry_after", None)
        seconds = ra.total_seconds() if isinstance(ra, timedelta) else float(ra or 1)
        return RateLimited(seconds, "Telegram flood control")
    if isinstance(exc, error.Forbidden | error.BadRequest | error.InvalidToken | error.ChatMigrated):
        return SendRefused(f"Telegram refused: {exc}")
    if isinstance(exc, error.NetworkError):  # TimedOut included
        return SendRefused(f"Telegram unreachable: {type(exc).__name__}", retryable=True,
                           maybe_sent=sending and not _never_sent(exc))
    return exc


def prepare(payload: dict[str, Any], key: str = "") -> Callable[[], dict[str, Any]]:
    """The client made and initialized; the returned call sends one stored call and gives what
    Telegram answered (the message id). The Bot API carries nothing like `key` back."""
    client = _client()
    params = {k: v for k, v in payload.items() if k != "method"}

    def send() -> dict[str, Any]:
        try:
            sent = client.call(client.bot.send_message(**params))
        except Exception as exc:
            raise _translated(exc) from None
        return {"message_id": sent.message_id}

    return send


def deliver(payload: dict[str, Any]) -> dict[str, Any]:
    return prepare(payload)()


def typing(msg: Incoming) -> None:
    client = _client()
    try:
        client.call(client.bot.send_chat_action(chat_id=msg.reply_to["chat_id"], action="typing",
                                                message_thread_id=msg.reply_to.get("message_thread_id")))
    except Exception as exc:
        raise _translated(exc) from None


def deep_link(token: str) -> str:
    from shared.config import get_settings

    return f"https://t.me/{get_settings().TELEGRAM_BOT_USERNAME or 'openagents_bot'}?start={token}"


__all__ = ["LIMIT", "RELAY", "SECRET_TOKEN", "deep_link", "deliver", "incoming", "outgoing", "parse_update",
           "prepare", "resend_safe", "typing"]

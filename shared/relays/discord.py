"""Discord (CONTRACTS §G): the interactions endpoint's verifier and intake, messages from the gateway
bot (`fly/discord_gateway`), the job's parsing, and sending over httpx to `DISCORD_API_BASE` (it
includes the API version).

Intake (`functions/discord_interactions.py`):
    Ed25519 signature (`X-Signature-Ed25519`, hex) over `X-Signature-Timestamp` + raw body with
    DISCORD_PUBLIC_KEY (hex), else 401 — Discord sends deliberately bad signatures to check this; a
    timestamp more than 5 minutes away is refused too. Unset key → 503.
    PING (type 1) → PONG `{"type": 1}`. An application command (type 2) is recorded by interaction id
    and answered with a deferred response (type 5; ephemeral for `/link`). Components and modals → 6
    (deferred update), autocomplete → 8 with no choices: acknowledged, nothing stored.

Commands: `/ask message:<text>` (any command with a `message` option) and `/link token:<token>`.
Gateway messages (DMs and @mentions, recorded by message id) arrive as `{"source": "gateway", "message"}`;
one of files or stickers only (`attachments`: their count) is answered "text only, for now".

Sending: an interaction's first part edits the deferred reply (`PATCH …/messages/@original`,
idempotent), later parts are follow-ups; gateway replies are channel messages with a `nonce` and
`enforce_nonce` (Discord deduplicates them), so both may be re-sent when in doubt. Content ≤ 2000
characters, `allowed_mentions` empty (user text never pings). 429 → `RateLimited(retry_after)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from shared.problems import Problem, unauthorized, unavailable
from shared.relays import http
from shared.relays.body import load_body
from shared.relays.models import InboxRecord, Incoming, RateLimited, SendRefused
from shared.web.verifiers import Inbound, register

RELAY: Final = "discord"
LIMIT = 2000
TYPING_EVERY_S = 8.0  # a typing status lasts 10 s
MAX_BODY = 256 * 1024
TOLERANCE_S = 300
DEFAULT_API_BASE = "https://discord.com/api/v10"
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
PONG, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, AUTOCOMPLETE_RESULT = 1, 5, 6, 8
EPHEMERAL = 1 << 6
NO_MENTIONS: dict[str, list[str]] = {"parse": []}


@dataclass(frozen=True, slots=True)
class Ed25519Signature:
    """`auth="discord"`: Discord's Ed25519 signature of timestamp + raw body."""

    name: str = "discord"
    errors: tuple[int, ...] = (401, 503)
    max_body: int | None = MAX_BODY
    scheme: dict[str, Any] = field(default_factory=lambda: {
        "type": "apiKey", "in": "header", "name": "X-Signature-Ed25519",
        "description": "Ed25519 signature (hex) of `<X-Signature-Timestamp><raw body>`, checked with "
                       "DISCORD_PUBLIC_KEY; a timestamp more than 300 s away is refused"})

    def verify(self, inbound: Inbound) -> None:
        from shared.config import get_settings

        key_hex = get_settings().DISCORD_PUBLIC_KEY
        if not key_hex:
            raise unavailable("Discord is not configured (DISCORD_PUBLIC_KEY is not set).", code="relay-not-configured")
        sig = inbound.headers.get("X-Signature-Ed25519", "")
        ts = inbound.headers.get("X-Signature-Timestamp", "")
        if not sig or not ts.isdigit():
            raise unauthorized("The Discord signature headers are missing.")
        if abs(time.time() - int(ts)) > TOLERANCE_S:
            raise unauthorized("The Discord signature timestamp is too old (or in the future).")
        if not _valid(key_hex, sig, ts.encode() + inbound.body):
            raise unauthorized("The Discord signature does not match.")


def _valid(key_hex: str, sig_hex: str, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex)).verify(bytes.fromhex(sig_hex), message)
    except (ValueError, InvalidSignature):
        return False
    return True


ED25519_SIGNATURE = register(Ed25519Signature())


def _malformed() -> Problem:
    return Problem(400, "Bad Request", "The body is not a Discord interaction.", code="malformed-interaction")


def _options(data: dict[str, Any]) -> dict[str, Any]:
    return {str(o.get("name")): o.get("value") for o in data.get("options") or [] if isinstance(o, dict)}


def _user(interaction: dict[str, Any]) -> dict[str, Any]:
    member = interaction.get("member")
    user = member.get("user") if isinstance(member, dict) else interaction.get("user")
    return user if isinstance(user, dict) else {}


def parse_interaction(raw: bytes) -> tuple[dict[str, Any], list[InboxRecord]]:
    """(the interaction response, the records)."""
    try:
        body = load_body(raw, where="interaction")
    except Problem:
        raise _malformed() from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), int):
        raise _malformed()
    kind = body["type"]
    if kind == PING:
        return {"type": PONG}, []
    if kind == AUTOCOMPLETE:
        return {"type": AUTOCOMPLETE_RESULT, "data": {"choices": []}}, []
    if kind != APPLICATION_COMMAND:
        return {"type": DEFERRED_UPDATE}, []  # components, modals and types added later: acknowledged
    data = body.get("data")
    if not isinstance(body.get("id"), str) or not isinstance(body.get("token"), str) or not isinstance(data, dict):
        raise _malformed()
    user = _user(body)
    if not isinstance(user.get("id"), str):
        raise _malformed()
    chat = str(body.get("channel_id") or (body.get("channel") or {}).get("id") or f"dm:{user['id']}")
    ephemeral = data.get("name") == "link"
    response: dict[str, Any] = {"type": DEFERRED_CHANNEL_MESSAGE}
    if ephemeral:
        response["data"] = {"flags": EPHEMERAL}
    return response, [InboxRecord(RELAY, f"interaction:{body['id']}", chat, {"source": "interaction",
                                                                            "interaction": body})]


def gateway_record(message: dict[str, Any]) -> InboxRecord:
    """A gateway bot's message (a DM or an @mention) as intake records it."""
    return InboxRecord(RELAY, f"message:{message['id']}", str(message["channel_id"]),
                       {"source": "gateway", "message": message})


# --- the processing job ----------------------------------------------------------------------------

def incoming(payload: dict[str, Any]) -> Incoming | None:
    if payload.get("source") == "gateway":
        m = payload.get("message") or {}
        author = m.get("author") or {}
        text = str(m.get("content", "")).strip()
        unsupported = "attachment" if not text and m.get("attachments") else None
        if not (text or unsupported) or author.get("bot"):
            return None
        return Incoming(RELAY, str(author["id"]), str(m["channel_id"]), text, sent_at=time.time(),
                        reply_to={"channel_id": str(m["channel_id"]), "message_id": str(m["id"])},
                        name=str(author.get("global_name") or author.get("username") or ""), unsupported=unsupported)
    body = payload.get("interaction") or {}
    data = body.get("data") or {}
    opts = _options(data)
    if data.get("name") == "link":
        text = f"link {opts.get('token', '')}".strip()
    else:
        text = str(opts.get("message") or opts.get("text") or opts.get("prompt") or "").strip()
    if not text:
        return None
    user = _user(body)
    chat = str(body.get("channel_id") or (body.get("channel") or {}).get("id") or f"dm:{user['id']}")
    return Incoming(RELAY, str(user["id"]), chat, text, sent_at=time.time(),
                    reply_to={"application_id": str(body.get("application_id", "")), "token": body["token"]},
                    name=str(user.get("global_name") or user.get("username") or ""))


def outgoing(msg: Incoming, parts: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, text in enumerate(parts):
        if "token" in msg.reply_to:
            op = "edit_original" if i == 0 else "followup"
            out.append({"op": op, "application_id": msg.reply_to["application_id"], "token": msg.reply_to["token"],
                        "content": text, "allowed_mentions": NO_MENTIONS})
        else:
            source = msg.reply_to["message_id"]
            call: dict[str, Any] = {"op": "channel_message", "channel_id": msg.reply_to["channel_id"], "content": text,
                                    "nonce": f"{source[-19:]}:{i}", "enforce_nonce": True,
                                    "allowed_mentions": NO_MENTIONS}
            if i == 0:
                call["message_reference"] = {"message_id": source, "fail_if_not_exists": False}
            out.append(call)
    return out


def resend_safe(payload: dict[str, Any]) -> bool:
    """An edit of the deferred reply and a nonce-enforced message are deduplicated by Discord."""
    return payload.get("op") in ("edit_original", "channel_message")




def _prepared(method: str, path: str, body: dict[str, Any] | None, *, bot: bool) -> Callable[[], dict[str, Any]]:
    """The request built (URL, headers, JSON) on the shared client; the returned call is the exchange."""
    import httpx

    from shared.config import get_settings

    s = get_settings()
    headers = {"User-Agent": "DiscordBot (https://openagents.dev, 1.0)"}
    if bot:
        if s.DISCORD_BOT_TOKEN is None:
            raise SendRefused("Discord is not configured (DISCORD_BOT_TOKEN is not set).")
        headers["Authorization"] = f"Bot {s.DISCORD_BOT_TOKEN.get_secret_value()}"
    url = (s.DISCORD_API_BASE or DEFAULT_API_BASE).rstrip("/") + path
    client = http.client()
    request = client.build_request(method, url, json=body, headers=headers)

    def send() -> dict[str, Any]:
        try:
            resp = client.send(request)
        except httpx.HTTPError as exc:
            # Re-sending is safe here either way (`resend_safe`): the retry settles a maybe-sent part.
            raise SendRefused(f"Discord unreachable: {type(exc).__name__}", retryable=True) from None
        return _answer(resp)

    return send


def _answer(resp: Any) -> dict[str, Any]:
    try:
        data = resp.json() if resp.content else {}
    except ValueError:
        data = {}
    if resp.status_code == 429:
        after = data.get("retry_after") if isinstance(data, dict) else None
        if not isinstance(after, int | float):
            header = resp.headers.get("Retry-After") or resp.headers.get("X-RateLimit-Reset-After") or "1"
            after = float(header) if header.replace(".", "", 1).isdigit() else 1.0
        raise RateLimited(float(after), "Discord rate limit")
    if resp.status_code >= 400:
        detail = data.get("message") if isinstance(data, dict) else None
        raise SendRefused(f"Discord refused ({resp.status_code}): {detail or resp.reason_phrase}",
                          retryable=resp.status_code >= 500, status=resp.status_code)
    return data if isinstance(data, dict) else {}


def prepare(payload: dict[str, Any], key: str = "") -> Callable[[], dict[str, Any]]:
    """One stored operation's request; the returned call makes it and gives the message id. (Discord
    deduplicates by the stored nonce or the edit itself, so `key` is not needed.)"""
    body = {k: v for k, v in payload.items() if k in ("content", "allowed_mentions", "nonce", "enforce_nonce",
                                                      "message_reference")}
    op = payload.get("op")
    if op == "edit_original":
        send = _prepared("PATCH", f"/webhooks/{payload['application_id']}/{payload['token']}/messages/@original",
                         body, bot=False)
    elif op == "followup":
        send = _prepared("POST", f"/webhooks/{payload['application_id']}/{payload['token']}?wait=true", body,
                         bot=False)
    elif op == "channel_message":
        send = _prepared("POST", f"/channels/{payload['channel_id']}/messages", body, bot=True)
    else:
        raise SendRefused(f"unknown Discord operation {op!r}")

    def sent() -> dict[str, Any]:
        return {"id": send().get("id")}

    return sent


def deliver(payload: dict[str, Any]) -> dict[str, Any]:
    return prepare(payload)()


def typing(msg: Incoming) -> None:
    if "channel_id" in msg.reply_to:  # an interaction's deferred reply already shows "thinking…"
        _prepared("POST", f"/channels/{msg.reply_to['channel_id']}/typing", None, bot=True)()


__all__ = ["ED25519_SIGNATURE", "LIMIT", "RELAY", "deliver", "gateway_record", "incoming", "outgoing",
           "parse_interaction", "prepare", "resend_safe", "typing"]

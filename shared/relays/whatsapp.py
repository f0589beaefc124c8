"""WhatsApp Cloud API (CONTRACTS §E): the webhook's verifiers and intake, the job's parsing, and sending
to `{WHATSAPP_API_BASE}/{WHATSAPP_PHONE_NUMBER_ID}/messages` (the Graph root with its version) over httpx.

Intake (`functions/whatsapp_webhook.py`):
    GET  the subscription handshake: `hub.mode=subscribe` and `hub.verify_token` equal (constant time)
         to WHATSAPP_VERIFY_TOKEN → the raw `hub.challenge`; anything else 403.
    POST `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(WHATSAPP_APP_SECRET, raw body)>`, else 401; unset
         secret → 503. Notifications are batched: every text message of every entry and change is
         recorded by its `wamid`, and so is every image, audio, video, document, sticker, location or
         contacts message (answered "text only", no agent turn); reactions and other types, and
         messages older than Meta's retry window (7 days: a replay) → 200, nothing stored. Status
         callbacks (`sent`/`delivered`/`read`) of our own sends carry the part's key in
         `biz_opaque_callback_data` and are kept on that outbox part (`relay_outbox.platform_status`).

Sending: text parts (≤ 4096 characters). Free-form messages are allowed only within 24 hours of the
user's last message (the customer-service window): outside it the reply is the approved template named
WHATSAPP_TEMPLATE_NAME when one is configured, else nothing — logged either way; Meta's 131047 (window
closed) is `OutsideWindow`. Throttling (130429 throughput, 131056 pair rate, 80007, 4) is `RateLimited`.
The typing indicator is sent once with the read receipt (it lasts until the reply, ≤ 25 s).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from shared import logs
from shared.problems import Problem, forbidden, unauthorized, unavailable
from shared.relays import http
from shared.relays.body import load_body
from shared.relays.models import (
    Doubt,
    InboxRecord,
    Incoming,
    OutsideWindow,
    RateLimited,
    SendRefused,
    StatusPending,
    Verdict,
)
from shared.web.verifiers import Inbound, register

log = logging.getLogger("openagents.relays")

RELAY: Final = "whatsapp"
LIMIT = 4096
TYPING_EVERY_S = None  # once: it lasts until the reply
MAX_BODY = 1024 * 1024  # batched notifications
WINDOW_S = 24 * 3600
STALE_AFTER_S = 7 * 24 * 3600
DEFAULT_API_BASE = "https://graph.facebook.com/v21.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
THROTTLED = {130429: 1.0, 131056: 6.0, 80007: 60.0, 4: 60.0}  # error code → default wait (s)
WINDOW_CLOSED = 131047
STATUSES = ("sent", "delivered", "read")  # a message's status webhooks that mean Meta has it
NON_TEXT = ("image", "audio", "video", "document", "sticker", "location", "contacts")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class HubSignature:
    """`auth="whatsapp"`: Meta's `X-Hub-Signature-256` over the raw body with the app secret."""

    name: str = "whatsapp"
    errors: tuple[int, ...] = (401, 503)
    max_body: int | None = MAX_BODY
    scheme: dict[str, Any] = field(default_factory=lambda: {
        "type": "apiKey", "in": "header", "name": SIGNATURE_HEADER,
        "description": "`sha256=<HMAC-SHA256 hex>` of the raw body with WHATSAPP_APP_SECRET"})

    def verify(self, inbound: Inbound) -> None:
        from shared.config import get_settings

        secret = get_settings().WHATSAPP_APP_SECRET
        if secret is None or not secret.get_secret_value():
            raise unavailable("WhatsApp is not configured (WHATSAPP_APP_SECRET is not set).",
                              code="relay-not-configured")
        given = inbound.headers.get(SIGNATURE_HEADER, "")
        if not given.startswith("sha256="):
            raise unauthorized(f"{SIGNATURE_HEADER} is missing.")
        if not hmac.compare_digest(given.encode(), signature(secret.get_secret_value(), inbound.body).encode()):
            raise unauthorized(f"{SIGNATURE_HEADER} does not match.")


@dataclass(frozen=True, slots=True)
class VerifyToken:
    """`auth="whatsapp-handshake"`: the GET with which Meta subscribes the callback URL."""

    name: str = "whatsapp-handshake"
    errors: tuple[int, ...] = (403, 503)
    max_body: int | None = 0
    scheme: dict[str, Any] = field(default_factory=lambda: {
        "type": "apiKey", "in": "query", "name": "hub.verify_token",
        "description": "WHATSAPP_VERIFY_TOKEN, with `hub.mode=subscribe` and the `hub.challenge` to echo"})

    def verify(self, inbound: Inbound) -> None:
        from shared.config import get_settings

        token = get_settings().WHATSAPP_VERIFY_TOKEN
        if token is None or not token.get_secret_value():
            raise unavailable("WhatsApp is not configured (WHATSAPP_VERIFY_TOKEN is not set).",
                              code="relay-not-configured")
        given = inbound.args.get("hub.verify_token", "")
        if inbound.args.get("hub.mode") != "subscribe" or not hmac.compare_digest(
                given.encode(), token.get_secret_value().encode()):
            raise forbidden("The verify token does not match.")


HUB_SIGNATURE = register(HubSignature())
VERIFY_TOKEN = register(VerifyToken())


def _malformed() -> Problem:
    return Problem(400, "Bad Request", "The body is not a WhatsApp notification.", code="malformed-notification")


@dataclass(frozen=True, slots=True)
class Status:
    """A status webhook of a reply part we sent: its key (`biz_opaque_callback_data`), Meta's word."""

    key: str
    status: str
    message_id: str | None


def parse_notification(raw: bytes, *, now: float | None = None) -> list[InboxRecord]:
    return parse(raw, now=now)[0]


def parse(raw: bytes, *, now: float | None = None) -> tuple[list[InboxRecord], list[Status]]:
    """The messages to record and the statuses of our own sends that a verified body holds."""
    try:
        body = load_body(raw, where="notification")
    except Problem:
        raise _malformed() from None
    if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
        raise _malformed()
    if body.get("object") != "whatsapp_business_account":
        return [], []
    now = now or time.time()
    out: list[InboxRecord] = []
    statuses: list[Status] = []
    for entry in body["entry"]:
        for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict) or change.get("field") != "messages":
                continue
            statuses.extend(_statuses(value))
            contacts = {c.get("wa_id"): c for c in value.get("contacts") or [] if isinstance(c, dict)}
            for m in value.get("messages") or []:
                if not isinstance(m, dict) or not isinstance(m.get("id"), str) or not isinstance(m.get("from"), str):
                    continue
                kind = m.get("type")
                if kind == "text":
                    text = (m.get("text") or {}).get("body") if isinstance(m.get("text"), dict) else None
                    if not isinstance(text, str) or not text.strip():
                        continue
                elif kind not in NON_TEXT:
                    continue  # reactions, system notices, button replies …: nothing to answer
                ts = str(m.get("timestamp", ""))
                if ts.isdigit() and now - int(ts) > STALE_AFTER_S:
                    continue
                out.append(InboxRecord(RELAY, m["id"], m["from"], {
                    "message": m, "contact": contacts.get(m["from"]) or {}, "metadata": value.get("metadata") or {}}))
    return out, statuses


def _statuses(value: dict[str, Any]) -> list[Status]:
    out = []
    for st in value.get("statuses") or []:
        if not isinstance(st, dict):
            continue
        key, status = st.get("biz_opaque_callback_data"), st.get("status")
        if isinstance(key, str) and key.startswith(f"{RELAY}:") and status in STATUSES:
            out.append(Status(key[:200], str(status), str(st["id"])[:200] if isinstance(st.get("id"), str) else None))
    return out


def record_statuses(statuses: list[Status]) -> int:
    """Keeps each status on its outbox part (one idempotent UPDATE each); how many moved a part on."""
    if not statuses:
        return 0
    from shared.data import get_db

    moved = 0
    with get_db().service() as tx:
        for st in statuses:
            moved += tx.one("relay_outbox_platform_status", key=st.key, relay=RELAY, status=st.status,
                            message_id=st.message_id) is not None
    return moved


# --- the processing job ----------------------------------------------------------------------------

def incoming(payload: dict[str, Any]) -> Incoming | None:
    m = payload.get("message") or {}
    unsupported = str(m["type"]) if m.get("type") in NON_TEXT else None
    text = "" if unsupported else ((m.get("text") or {}).get("body") or "").strip()
    if not (text or unsupported) or not m.get("from"):
        return None
    ts = str(m.get("timestamp", ""))
    name = ((payload.get("contact") or {}).get("profile") or {}).get("name") or ""
    return Incoming(RELAY, str(m["from"]), str(m["from"]), text, sent_at=float(ts) if ts.isdigit() else None,
                    reply_to={"to": m["from"], "message_id": m["id"]}, name=str(name), unsupported=unsupported)


def in_window(msg: Incoming, now: float | None = None) -> bool:
    return msg.sent_at is None or (now or time.time()) - msg.sent_at < WINDOW_S


def outgoing(msg: Incoming, parts: list[str]) -> list[dict[str, Any]]:
    base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": msg.reply_to["to"]}
    if in_window(msg):
        return [{**base, "type": "text", "text": {"body": text, "preview_url": False}} for text in parts]
    from shared.config import get_settings

    template = get_settings().WHATSAPP_TEMPLATE_NAME
    logs.log(log, logging.WARNING, "whatsapp reply outside the 24-hour window",
             template=template or None, action="template" if template else "not sent")
    if not template:
        return []
    return [{**base, "type": "template",
             "template": {"name": template, "language": {"code": get_settings().WHATSAPP_TEMPLATE_LANGUAGE}}}]


def resend_safe(payload: dict[str, Any]) -> bool:
    return False  # no idempotency key: a part in doubt is settled by Meta's status webhooks (`resolve`)


def _prepared(body: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """The request built (URL, token, JSON) on the shared client; the returned call is the exchange."""
    import httpx

    from shared.config import get_settings

    s = get_settings()
    if s.WHATSAPP_ACCESS_TOKEN is None or not s.WHATSAPP_PHONE_NUMBER_ID:
        raise SendRefused("WhatsApp is not configured (WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID).")
    url = f"{(s.WHATSAPP_API_BASE or DEFAULT_API_BASE).rstrip('/')}/{s.WHATSAPP_PHONE_NUMBER_ID}/messages"
    client = http.client()
    request = client.build_request("POST", url, json=body,
                                   headers={"Authorization": f"Bearer {s.WHATSAPP_ACCESS_TOKEN.get_secret_value()}"})

    def send() -> dict[str, Any]:
        try:
            resp = client.send(request)
        except httpx.HTTPError as exc:
            raise SendRefused(f"WhatsApp unreachable: {type(exc).__name__}", retryable=True,
                              maybe_sent=not http.never_sent(exc)) from None
        return _answer(resp)

    return send


def _answer(resp: Any) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        data = {}
    if resp.status_code == 200:
        return data if isinstance(data, dict) else {}
    err = (data.get("error") or {}) if isinstance(data, dict) else {}
    code = err.get("code")
    detail = f"WhatsApp error {code}: {str(err.get('message', resp.reason_phrase))[:200]}"
    if code in THROTTLED or resp.status_code == 429:
        after = resp.headers.get("Retry-After")
        raise RateLimited(float(after) if after and after.isdigit() else THROTTLED.get(int(code or 0), 1.0), detail)
    if code == WINDOW_CLOSED:
        raise OutsideWindow(detail)
    raise SendRefused(detail, retryable=resp.status_code >= 500, status=resp.status_code)


def prepare(payload: dict[str, Any], key: str = "") -> Callable[[], dict[str, Any]]:
    """One stored message, carrying the part's key as `biz_opaque_callback_data` (Meta echoes it in
    the message's status webhooks); the returned call sends it and gives the message id."""
    send = _prepared({**payload, "biz_opaque_callback_data": key} if key else payload)

    def sent() -> dict[str, Any]:
        data = send()
        ids = [m.get("id") for m in data.get("messages") or [] if isinstance(m, dict)]
        return {"id": ids[0] if ids else None}

    return sent


def deliver(payload: dict[str, Any]) -> dict[str, Any]:
    return prepare(payload)()


def resolve(doubt: Doubt) -> Verdict:
    """A part in doubt: a status webhook for its key says Meta took it; none within
    WHATSAPP_DOUBT_WAIT_S of the send (Meta sends `sent` within seconds) says it never got there."""
    from shared.config import get_settings

    if doubt.platform_status in STATUSES:
        return Verdict("sent", {"id": doubt.platform_message_id}, why=f"Meta reported it {doubt.platform_status}")
    wait = get_settings().WHATSAPP_DOUBT_WAIT_S
    age = time.time() - (doubt.started_at or 0.0)
    if age < wait:
        raise StatusPending(wait - age, "WhatsApp send in doubt, waiting for its status webhook")
    return Verdict("resend", why=f"no status webhook within {wait:g} s: it never reached Meta")


def typing(msg: Incoming) -> None:
    _prepared({"messaging_product": "whatsapp", "status": "read", "message_id": msg.reply_to["message_id"],
               "typing_indicator": {"type": "text"}})()


__all__ = ["HUB_SIGNATURE", "LIMIT", "RELAY", "VERIFY_TOKEN", "deliver", "incoming", "outgoing", "parse_notification",
           "prepare", "resend_safe", "resolve", "signature", "typing"]

"""Slack (CONTRACTS §F): the Events API and slash-command verifier and intake, the job's parsing, and
sending through slack_sdk's `WebClient(base_url=SLACK_API_BASE)`.

Intake (`functions/slack_webhook.py`):
    v0 signing — `X-Slack-Signature: v0=<hex HMAC-SHA256(SLACK_SIGNING_SECRET, "v0:<ts>:<raw body>")>`
    and `X-Slack-Request-Timestamp` within 5 minutes, else 401; unset secret → 503.
    `slack-events`: `url_verification` → `{"challenge"}`; `event_callback` with a `message` in a direct
    message (not a bot's, no subtype but `file_share` — answered "text only, for now", no agent turn)
    or an `app_mention` → recorded by `event_id` (Slack's retries,
    `X-Slack-Retry-Num`, carry the same id and do nothing); anything else → 200, nothing stored.
    `slack-commands`: form-encoded; recorded by `trigger_id` (unique per invocation) and acknowledged
    with an ephemeral "on it" (Slack wants an answer within 3 s). `ssl_check` → 200.

Sending: `chat.postMessage` with the part as `text` (the notification fallback, ≤ 40,000 characters) and
as section blocks of ≤ 3,000 characters; threads kept (`thread_ts`). 429 + `Retry-After` → `RateLimited`.
Every part carries message `metadata` `{"event_type": "openagents_reply", "event_payload": {"key"}}`:
a part left in doubt is looked up in `conversations.history` (`conversations.replies` in a thread) with
`include_all_metadata` since just before its send began, and is either found (sent) or sent now.
Needs the `*:history` scopes of the conversations the bot answers in.
Slack has no typing indicator for bots.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl

from shared.problems import Problem, unauthorized, unavailable
from shared.relays import split
from shared.relays.body import load_body
from shared.relays.models import (
    Doubt,
    InboxRecord,
    Incoming,
    RateLimited,
    SendRefused,
    StatusPending,
    Verdict,
)
from shared.web.verifiers import Inbound, register

RELAY: Final = "slack"
LIMIT = 40000  # chat.postMessage text
BLOCK_LIMIT = 3000  # a section block's text
TYPING_EVERY_S = None
MAX_BODY = 512 * 1024
TOLERANCE_S = 300
DEFAULT_API_BASE = "https://slack.com/api/"
_MENTION = re.compile(r"<@[A-Z0-9]+>\s*")
FILE_SHARE = "file_share"  # a message subtype: a file (with or without a comment), answered "text only"
METADATA_EVENT = "openagents_reply"  # message metadata `event_type`; `event_payload.key` is the part's key
SETTLE_S = 10.0  # a send in doubt younger than this may still be landing at Slack: looked up after it
LOOKUP_MARGIN_S = 60.0  # history from this long before the send began (clocks differ)
LOOKUP_FALLBACK_S = 3600.0  # when the start of the send was not recorded
LOOKUP_PAGE = 100
LOOKUP_PAGES = 3


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v0=<hex>`: Slack's signature of a request body sent at `timestamp`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SlackSignature:
    """`auth="slack"`: Slack's v0 request signature, checked with a 5-minute window."""

    name: str = "slack"
    errors: tuple[int, ...] = (401, 503)
    max_body: int | None = MAX_BODY
    scheme: dict[str, Any] = field(default_factory=lambda: {
        "type": "apiKey", "in": "header", "name": "X-Slack-Signature",
        "description": "`v0=<HMAC-SHA256 hex>` with SLACK_SIGNING_SECRET over `v0:<X-Slack-Request-Timestamp>:<raw body>`;"
                       " a timestamp more than 300 s away is refused"})

    def verify(self, inbound: Inbound) -> None:
        from shared.config import get_settings

        secret = get_settings().SLACK_SIGNING_SECRET
        if secret is None or not secret.get_secret_value():
            raise unavailable("Slack is not configured (SLACK_SIGNING_SECRET is not set).", code="relay-not-configured")
        ts = inbound.headers.get("X-Slack-Request-Timestamp", "")
        given = inbound.headers.get("X-Slack-Signature", "")
        if not ts.isdigit() or not given:
            raise unauthorized("The Slack signature headers are missing.")
        if abs(time.time() - int(ts)) > TOLERANCE_S:
            raise unauthorized("The Slack request timestamp is too old (or in the future).")
        if not hmac.compare_digest(given.encode(), signature(secret.get_secret_value(), ts, inbound.body).encode()):
            raise unauthorized("The Slack signature does not match.")


SLACK_SIGNATURE = register(SlackSignature())


def _malformed() -> Problem:
    return Problem(400, "Bad Request", "The body is not a Slack event.", code="malformed-event")


def _chat(team: Any, channel: Any) -> str:
    return f"{team}:{channel}"


def parse_event(raw: bytes) -> tuple[dict[str, Any] | None, list[InboxRecord]]:
    """(what to answer besides the receipt — the url_verification challenge —, the records)."""
    try:
        body = load_body(raw, where="event")
    except Problem:
        raise _malformed() from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise _malformed()
    if body["type"] == "url_verification":
        return {"challenge": str(body.get("challenge", ""))}, []
    if body["type"] != "event_callback":
        return None, []  # app_rate_limited and other envelope types: acknowledged
    event = body.get("event")
    if not isinstance(event, dict) or not isinstance(body.get("event_id"), str):
        raise _malformed()
    kind = event.get("type")
    is_dm = kind == "message" and event.get("channel_type") == "im"
    if kind not in ("app_mention",) and not is_dm:
        return None, []
    subtype = event.get("subtype")
    if event.get("bot_id") or (subtype and subtype != FILE_SHARE) or not isinstance(event.get("user"), str):
        return None, []  # our own replies, edits, joins …: never answered (no loops)
    if not isinstance(event.get("channel"), str) or not (isinstance(event.get("text"), str) or subtype == FILE_SHARE):
        return None, []
    return None, [InboxRecord(RELAY, body["event_id"], _chat(body.get("team_id"), event["channel"]), body)]


def parse_command(raw: bytes) -> tuple[dict[str, Any] | None, list[InboxRecord]]:
    try:
        form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw)))
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "Bad Request", "The body is not a Slack command.", code="malformed-command") from None
    if form.get("ssl_check") == "1":
        return None, []
    for name in ("command", "user_id", "channel_id", "trigger_id"):
        if not form.get(name):
            raise Problem(400, "Bad Request", f"The command has no {name}.", code="malformed-command")
    ack = {"response_type": "ephemeral", "text": "Got it — your agent is on it."}
    return ack, [InboxRecord(RELAY, f"command:{form['trigger_id']}", _chat(form.get("team_id"), form["channel_id"]),
                             {"command": form})]


# --- the processing job ----------------------------------------------------------------------------

def incoming(payload: dict[str, Any]) -> Incoming | None:
    form = payload.get("command")
    if isinstance(form, dict):
        text = str(form.get("text", "")).strip()
        if not text:
            return None
        return Incoming(RELAY, f"{form.get('team_id')}:{form['user_id']}", _chat(form.get("team_id"), form["channel_id"]),
                        text, sent_at=time.time(), reply_to={"channel": form["channel_id"]},
                        name=str(form.get("user_name", "")))
    event = payload.get("event") or {}
    unsupported = "file" if event.get("subtype") == FILE_SHARE else None
    text = "" if unsupported else _MENTION.sub("", str(event.get("text", ""))).strip()
    if not text and not unsupported:
        return None
    reply: dict[str, Any] = {"channel": event["channel"]}
    if event.get("type") == "app_mention":  # in a channel: answer in the thread
        reply["thread_ts"] = event.get("thread_ts") or event.get("ts")
    elif event.get("thread_ts"):
        reply["thread_ts"] = event["thread_ts"]
    ts = event.get("ts")
    return Incoming(RELAY, f"{payload.get('team_id')}:{event['user']}", _chat(payload.get("team_id"), event["channel"]),
                    text, sent_at=float(ts) if isinstance(ts, str) and ts.replace(".", "", 1).isdigit() else None,
                    reply_to=reply, unsupported=unsupported)


def outgoing(msg: Incoming, parts: list[str]) -> list[dict[str, Any]]:
    out = []
    for text in parts:
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
                  for chunk in split.split(text, BLOCK_LIMIT)]
        out.append({"method": "chat.postMessage", **msg.reply_to, "text": text, "blocks": blocks})
    return out


def resend_safe(payload: dict[str, Any]) -> bool:
    return False  # chat.postMessage has no idempotency key: a part in doubt is looked up instead (`resolve`)


_clients: dict[tuple[str, str], Any] = {}
_clients_lock = threading.Lock()


def _web_client() -> Any:
    """One WebClient per token and base (settings change in tests); made before any send."""
    from shared.config import get_settings

    s = get_settings()
    if s.SLACK_BOT_TOKEN is None:
        raise SendRefused("Slack is not configured (SLACK_BOT_TOKEN is not set).")
    key = (s.SLACK_BOT_TOKEN.get_secret_value(), s.SLACK_API_BASE or DEFAULT_API_BASE)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            from slack_sdk import WebClient

            client = WebClient(token=key[0], base_url=key[1], timeout=20)
            try:
                # Once per client, like Telegram's getMe: checks the token and pays the SDK's first-call
                # costs (its lazy imports, the TLS context) here rather than inside a send's window.
                client.auth_test()
            except Exception as exc:
                raise _translated(exc, sending=False) from None
            _clients[key] = client
        return client


def _translated(exc: Exception, *, sending: bool) -> Exception:
    from slack_sdk.errors import SlackApiError, SlackClientError

    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        error = str(exc.response.get("error", "")) if exc.response is not None else ""
        if status == 429 or error == "ratelimited":
            after = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after") or "1"
            return RateLimited(float(after) if str(after).replace(".", "", 1).isdigit() else 1.0, "Slack rate limit")
        return SendRefused(f"Slack refused: {error or status}", retryable=status >= 500, status=status)
    if isinstance(exc, SlackClientError | OSError):
        # slack_sdk opens a connection per request (urllib), so a failure may come after the request
        # went out; a lookup settles that, so such a send stays in doubt rather than going back.
        return SendRefused(f"Slack unreachable: {type(exc).__name__}", retryable=True, maybe_sent=sending)
    return exc


def _metadata(key: str) -> dict[str, Any]:
    return {"event_type": METADATA_EVENT, "event_payload": {"key": key}}


def prepare(payload: dict[str, Any], key: str = "") -> Callable[[], dict[str, Any]]:
    """The client and the call's parameters (the part's key in message metadata); the returned call
    is the chat.postMessage exchange."""
    client = _web_client()
    params = {k: v for k, v in payload.items() if k != "method"}
    if key:
        params["metadata"] = _metadata(key)

    def send() -> dict[str, Any]:
        try:
            resp = client.chat_postMessage(**params)
        except Exception as exc:
            raise _translated(exc, sending=True) from None
        return {"channel": resp.get("channel"), "ts": resp.get("ts")}

    return send


def deliver(payload: dict[str, Any]) -> dict[str, Any]:
    return prepare(payload)()


def resolve(doubt: Doubt) -> Verdict:
    """A part in doubt, looked up by its metadata key in the channel's history (the thread's: thread
    replies are not in `conversations.history`) since shortly before its send began."""
    started = doubt.started_at or (time.time() - LOOKUP_FALLBACK_S)
    young = SETTLE_S - (time.time() - started)
    if young > 0:  # the request may still be in flight at Slack: look once it must have landed
        raise StatusPending(young, "Slack send in doubt, looked up shortly")
    client = _web_client()
    channel = str(doubt.payload.get("channel", ""))
    thread = doubt.payload.get("thread_ts")
    query: dict[str, Any] = {"channel": channel, "oldest": f"{started - LOOKUP_MARGIN_S:.6f}", "inclusive": True,
                             "include_all_metadata": True, "limit": LOOKUP_PAGE}
    cursor: str | None = None
    try:
        for _ in range(LOOKUP_PAGES):
            if thread:
                resp = client.conversations_replies(ts=str(thread), cursor=cursor, **query)
            else:
                resp = client.conversations_history(cursor=cursor, **query)
            for m in resp.get("messages") or []:
                meta = m.get("metadata") if isinstance(m, dict) else None
                if (isinstance(meta, dict) and meta.get("event_type") == METADATA_EVENT
                        and (meta.get("event_payload") or {}).get("key") == doubt.key):
                    return Verdict("sent", {"channel": channel, "ts": m.get("ts")}, why="found in the history")
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not resp.get("has_more") or not cursor:
                return Verdict("resend", why="not in the history since the send began: it never arrived")
    except Exception as exc:
        err = _translated(exc, sending=False)
        if isinstance(err, RateLimited) or (isinstance(err, SendRefused) and err.retryable):
            raise err from None
        return Verdict("unknown", why=f"the history lookup failed: {err}")
    return Verdict("unknown", why=f"not in the {LOOKUP_PAGES * LOOKUP_PAGE} messages looked at")


__all__ = ["LIMIT", "RELAY", "SLACK_SIGNATURE", "deliver", "incoming", "outgoing", "parse_command", "parse_event",
           "prepare", "resend_safe", "resolve", "signature"]

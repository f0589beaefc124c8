"""Slack (CONTRACTS §F): the Events API and slash-command verifier and intake, the job's parsing, and
sending through slack_sdk's `WebClient(base_url=SLACK_API_BASE)`.

Intake (`functions/slack_webhook.py`):
    v0 signing — `X-Slack-Signature: v0=<hex HMAC-SHA256(SLACK_SIGNING_SECRET, "v0:<ts>:<raw body>")>`
    and `X-Slack-Request-Timestamp` within 5 minutes, else 401; unset secret → 503.
    `slack-events`: `url_verification` → `{"challenge"}`; `event_callback` with a `message` in a direct
    message (not a bot's, no subtype) or an `app_mention` → recorded by `event_id` (Slack's retries,
    `X-Slack-Retry-Num`, carry the same id and do nothing); anything else → 200, nothing stored.
    `slack-commands`: form-encoded; recorded by `trigger_id` (unique per invocation) and acknowledged
    with an ephemeral "on it" (Slack wants an answer within 3 s). `ssl_check` → 200.

Sending: `chat.postMessage` with the part as `text` (the notification fallback, ≤ 40,000 characters) and
as section blocks of ≤ 3,000 characters; threads kept (`thread_ts`). 429 + `Retry-After` → `RateLimited`.
Slack has no typing indicator for bots.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl

from shared.problems import Problem, unauthorized, unavailable
from shared.relays import split
from shared.relays.body import load_body
from shared.relays.models import InboxRecord, Incoming, RateLimited, SendRefused
from shared.web.verifiers import Inbound, register

RELAY: Final = "slack"
LIMIT = 40000  # chat.postMessage text
BLOCK_LIMIT = 3000  # a section block's text
TYPING_EVERY_S = None
MAX_BODY = 512 * 1024
TOLERANCE_S = 300
DEFAULT_API_BASE = "https://slack.com/api/"
_MENTION = re.compile(r"<@[A-Z0-9]+>\s*")


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
    if event.get("bot_id") or event.get("subtype") or not isinstance(event.get("user"), str):
        return None, []  # our own replies, edits, joins …: never answered (no loops)
    if not isinstance(event.get("text"), str) or not isinstance(event.get("channel"), str):
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
    text = _MENTION.sub("", str(event.get("text", ""))).strip()
    if not text:
        return None
    reply: dict[str, Any] = {"channel": event["channel"]}
    if event.get("type") == "app_mention":  # in a channel: answer in the thread
        reply["thread_ts"] = event.get("thread_ts") or event.get("ts")
    elif event.get("thread_ts"):
        reply["thread_ts"] = event["thread_ts"]
    ts = event.get("ts")
    return Incoming(RELAY, f"{payload.get('team_id')}:{event['user']}", _chat(payload.get("team_id"), event["channel"]),
                    text, sent_at=float(ts) if isinstance(ts, str) and ts.replace(".", "", 1).isdigit() else None,
                    reply_to=reply)


def outgoing(msg: Incoming, parts: list[str]) -> list[dict[str, Any]]:
    out = []
    for text in parts:
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
                  for chunk in split.split(text, BLOCK_LIMIT)]
        out.append({"method": "chat.postMessage", **msg.reply_to, "text": text, "blocks": blocks})
    return out


def resend_safe(payload: dict[str, Any]) -> bool:
    return False  # chat.postMessage has no idempotency key


def _web_client() -> Any:
    from slack_sdk import WebClient

    from shared.config import get_settings

    s = get_settings()
    if s.SLACK_BOT_TOKEN is None:
        raise SendRefused("Slack is not configured (SLACK_BOT_TOKEN is not set).")
    return WebClient(token=s.SLACK_BOT_TOKEN.get_secret_value(), base_url=s.SLACK_API_BASE or DEFAULT_API_BASE,
                     timeout=20)


def deliver(payload: dict[str, Any]) -> dict[str, Any]:
    from slack_sdk.errors import SlackApiError, SlackClientError

    params = {k: v for k, v in payload.items() if k != "method"}
    try:
        resp = _web_client().chat_postMessage(**params)
    except SlackApiError as exc:
        status = exc.response.status_code
        error = str(exc.response.get("error", "")) if exc.response is not None else ""
        if status == 429 or error == "ratelimited":
            after = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after") or "1"
            raise RateLimited(float(after) if str(after).replace(".", "", 1).isdigit() else 1.0,
                              "Slack rate limit") from None
        raise SendRefused(f"Slack refused: {error or status}", retryable=status >= 500, status=status) from None
    except (SlackClientError, OSError) as exc:
        raise SendRefused(f"Slack unreachable: {type(exc).__name__}", retryable=True) from None
    return {"channel": resp.get("channel"), "ts": resp.get("ts")}


__all__ = ["LIMIT", "RELAY", "SLACK_SIGNATURE", "deliver", "incoming", "outgoing", "parse_command", "parse_event",
           "resend_safe", "signature"]

"""The Slack fake.

Web API (`/api/<method>`, `Authorization: Bearer xoxb-…`, JSON, form or query; HTTP 200 with `{ok:
false, error}` on errors, as Slack answers): `auth.test`, `chat.postMessage` (text ≤ 40,000
characters, ≤ 50 blocks, section text ≤ 3,000; message `metadata` kept on the message),
`conversations.history` and `conversations.replies` (`oldest`, `inclusive`, `limit`, `cursor`,
`include_all_metadata`) over every message posted or delivered through the fake. A flood control
answers 429 with `Retry-After`.

Deliveries (signed `X-Slack-Signature` / `X-Slack-Request-Timestamp`): `send_dm(user, text)` and
`mention(user, channel, text)` (Events API `event_callback`, event ids `Ev…`), `command(user, channel,
text)` (form-encoded slash command), `url_verification()`; `deliver_event(envelope, retry_num=…)`
re-sends one as Slack's retries do.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devstack.emulators.loopback import LoopbackFake, LoopbackServer

TEAM = "T0OPENAGNT"
BOT_USER = "U0BOTUSER1"
APP_ID = "A0OPENAGNT"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    sig = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Signature": sig, "X-Slack-Request-Timestamp": ts}


class SlackState:
    def __init__(self, token: str, signing_secret: str) -> None:
        self.token = token
        self.signing_secret = signing_secret
        self.events_url: str | None = None
        self.commands_url: str | None = None
        self.lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self.flood = 0
        self.retry_after = 1
        self.history: dict[str, list[dict[str, Any]]] = {}  # channel → its messages, as posted
        self._seq = itertools.count(1)

    def next(self) -> int:
        return next(self._seq)

    def post(self, channel: str, message: dict[str, Any]) -> None:
        """A message in a channel's history (call with the lock held)."""
        self.history.setdefault(channel, []).append(message)


def create_app(state: SlackState) -> Starlette:
    async def method(request: Request) -> JSONResponse:
        name = request.path_params["method"]
        if request.headers.get("authorization", "") != f"Bearer {state.token}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        raw = await request.body()
        ctype = request.headers.get("content-type", "")
        params: dict[str, Any] = json.loads(raw) if raw and ctype.startswith("application/json") else \
            dict(parse_qsl(raw.decode()))
        if request.method == "GET":  # slack_sdk sends reads (conversations.*) as query parameters
            params = {**dict(request.query_params), **params}
        if name == "auth.test":
            return JSONResponse({"ok": True, "team_id": TEAM, "user_id": BOT_USER, "bot_id": "B0BOT"})
        if name in ("conversations.history", "conversations.replies"):
            return _history(state, name, params)
        if name != "chat.postMessage":
            return JSONResponse({"ok": False, "error": "unknown_method"})
        text = params.get("text") or ""
        blocks = params.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not params.get("channel"):
            return JSONResponse({"ok": False, "error": "channel_not_found"})
        if not text and not blocks:
            return JSONResponse({"ok": False, "error": "no_text"})
        if len(text) > 40000 or len(blocks) > 50 or any(
                len((b.get("text") or {}).get("text", "")) > 3000 for b in blocks):
            return JSONResponse({"ok": False, "error": "msg_too_long"})
        with state.lock:
            if state.flood > 0:
                state.flood -= 1
                state.calls.append({"method": name, "refused": 429, "channel": params["channel"]})
                return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429,
                                    headers={"Retry-After": str(state.retry_after)})
            ts = f"{int(time.time())}.{state.next():06d}"
            state.calls.append({"method": name, **params, "blocks": blocks, "ts": ts})
            message = {"type": "message", "text": text, "user": BOT_USER, "bot_id": "B0BOT", "app_id": APP_ID,
                       "ts": ts, "blocks": blocks, "team": TEAM}
            if params.get("thread_ts"):
                message["thread_ts"] = str(params["thread_ts"])
            metadata = params.get("metadata")
            if isinstance(metadata, str):
                metadata = json.loads(metadata)
            if isinstance(metadata, dict) and metadata.get("event_type"):
                message["metadata"] = {"event_type": metadata["event_type"],
                                       "event_payload": metadata.get("event_payload") or {}}
            state.post(str(params["channel"]), message)
        public = {k: v for k, v in message.items() if k != "metadata"}
        return JSONResponse({"ok": True, "channel": params["channel"], "ts": ts, "message": public})

    async def sent(request: Request) -> JSONResponse:
        with state.lock:
            return JSONResponse({"items": list(state.calls)})

    async def control_dm(request: Request) -> JSONResponse:
        body = await request.json()
        envelope = dm_envelope(state, str(body["user"]), str(body["text"]))
        status = await _post_async(state, state.events_url, json.dumps(envelope).encode(), "application/json")
        return JSONResponse({"envelope": envelope, "status": status})

    return Starlette(routes=[Route("/api/{method}", method, methods=["GET", "POST"]),
                             Route("/_fake/sent", sent, methods=["GET"]),
                             Route("/_fake/dm", control_dm, methods=["POST"])])


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true")


def _history(state: SlackState, name: str, params: dict[str, Any]) -> JSONResponse:
    """conversations.history (the channel's messages, thread replies left out) and conversations.replies
    (a thread: its parent, then the replies), newest first / oldest first as Slack gives them, from
    `oldest` (exclusive unless `inclusive`), metadata only with `include_all_metadata`, cursor-paged."""
    channel = str(params.get("channel") or "")
    if not channel:
        return JSONResponse({"ok": False, "error": "channel_not_found"})
    with state.lock:  # the fake's channels exist once named: one never written to is empty
        messages = [dict(m) for m in state.history.get(channel, [])]
    oldest = float(params.get("oldest") or 0)
    inclusive = _truthy(params.get("inclusive"))
    if name == "conversations.replies":
        parent = str(params.get("ts") or "")
        thread = [m for m in messages if m["ts"] == parent or m.get("thread_ts") == parent]
        if not any(m["ts"] == parent for m in thread):
            return JSONResponse({"ok": False, "error": "thread_not_found"})
        picked = sorted(thread, key=lambda m: float(m["ts"]))
    else:
        top = [m for m in messages if m.get("thread_ts") in (None, m["ts"])]
        picked = sorted(top, key=lambda m: float(m["ts"]), reverse=True)
    picked = [m for m in picked if float(m["ts"]) > oldest or (inclusive and float(m["ts"]) == oldest)]
    if not _truthy(params.get("include_all_metadata")):
        for m in picked:
            m.pop("metadata", None)
    limit = max(1, min(999, int(params.get("limit") or 100)))
    start = int(params.get("cursor") or 0) if str(params.get("cursor") or "0").isdigit() else 0
    page = picked[start:start + limit]
    more = start + limit < len(picked)
    return JSONResponse({"ok": True, "messages": page, "has_more": more, "pin_count": 0,
                         "response_metadata": {"next_cursor": str(start + limit) if more else ""}})


def dm_envelope(state: SlackState, user: str, text: str, *, channel: str | None = None) -> dict[str, Any]:
    n = state.next()
    ts = f"{int(time.time())}.{n:06d}"
    channel = channel or f"D{user[1:]}"
    with state.lock:
        state.post(channel, {"type": "message", "user": user, "text": text, "ts": ts, "team": TEAM})
    return {"token": "deprecated", "team_id": TEAM, "api_app_id": APP_ID, "type": "event_callback",
            "event_id": f"Ev{n:010d}", "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
            "event": {"type": "message", "channel_type": "im", "channel": channel, "user": user,
                      "text": text, "ts": ts, "event_ts": ts}}


def mention_envelope(state: SlackState, user: str, channel: str, text: str) -> dict[str, Any]:
    n = state.next()
    ts = f"{int(time.time())}.{n:06d}"
    with state.lock:
        state.post(channel, {"type": "message", "user": user, "text": f"<@{BOT_USER}> {text}", "ts": ts, "team": TEAM})
    return {"token": "deprecated", "team_id": TEAM, "api_app_id": APP_ID, "type": "event_callback",
            "event_id": f"Ev{n:010d}", "event_time": int(time.time()),
            "event": {"type": "app_mention", "channel": channel, "user": user, "text": f"<@{BOT_USER}> {text}",
                      "ts": ts, "event_ts": ts}}


async def _post_async(state: SlackState, url: str | None, body: bytes, ctype: str) -> int | None:
    if not url:
        return None
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        resp = await client.post(url, content=body, headers={"Content-Type": ctype,
                                                             **sign(state.signing_secret, body)})
    return resp.status_code


class SlackFake(LoopbackFake):
    def __init__(self, *, token: str, signing_secret: str, port: int = 0) -> None:
        self.state = SlackState(token, signing_secret)
        self.server = LoopbackServer(create_app(self.state), name="slack-fake", port=port)

    def _post(self, url: str | None, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> httpx.Response:
        assert url, "no delivery URL set"
        return httpx.post(url, content=body, timeout=30, trust_env=False,
                          headers={"Content-Type": ctype, **sign(self.state.signing_secret, body), **(headers or {})})

    def deliver_event(self, envelope: dict[str, Any], *, retry_num: int | None = None) -> httpx.Response:
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        return self._post(self.state.events_url, json.dumps(envelope).encode(), "application/json", headers)

    def send_dm(self, user: str, text: str) -> tuple[dict[str, Any], httpx.Response]:
        envelope = dm_envelope(self.state, user, text)
        return envelope, self.deliver_event(envelope)

    def mention(self, user: str, channel: str, text: str) -> tuple[dict[str, Any], httpx.Response]:
        envelope = mention_envelope(self.state, user, channel, text)
        return envelope, self.deliver_event(envelope)

    def command_form(self, user: str, channel: str, text: str, command: str = "/openagents") -> dict[str, str]:
        n = self.state.next()
        return {"token": "deprecated", "team_id": TEAM, "team_domain": "openagents", "channel_id": channel,
                "channel_name": "directmessage", "user_id": user, "user_name": "tester", "command": command,
                "text": text, "api_app_id": APP_ID, "response_url": f"{self.url}/commands/{n}",
                "trigger_id": f"{n}.{int(time.time())}.abcdef"}

    def command(self, user: str, channel: str, text: str) -> tuple[dict[str, str], httpx.Response]:
        form = self.command_form(user, channel, text)
        return form, self._post(self.state.commands_url, urlencode(form).encode(), "application/x-www-form-urlencoded")

    def url_verification(self, challenge: str) -> httpx.Response:
        body = {"token": "deprecated", "challenge": challenge, "type": "url_verification"}
        return self._post(self.state.events_url, json.dumps(body).encode(), "application/json")

    def sent(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(c) for c in self.state.calls
                    if "refused" not in c and (channel is None or c.get("channel") == channel)]

    def refused(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(c) for c in self.state.calls if "refused" in c]

    def flood(self, count: int, retry_after: int = 1) -> None:
        with self.state.lock:
            self.state.flood, self.state.retry_after = count, retry_after

    def history(self, channel: str) -> list[dict[str, Any]]:
        """A channel's messages as stored (metadata included), oldest first."""
        with self.state.lock:
            return [dict(m) for m in self.state.history.get(channel, [])]

    def reset(self) -> None:
        with self.state.lock:
            self.state.calls.clear()
            self.state.history.clear()
            self.state.flood = 0

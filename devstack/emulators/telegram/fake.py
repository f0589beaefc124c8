"""The Telegram fake: the Bot API methods the relay uses, a record of what the bot sent, and inbound
updates delivered to the webhook exactly as Telegram delivers them (JSON `Update`, header
`X-Telegram-Bot-Api-Secret-Token`).

Bot API (`/bot<token>/<method>`, form or JSON parameters, answers `{ok, result}` or
`{ok: false, error_code, description, parameters?}`):
    getMe, sendMessage (text 1–4096 characters), sendChatAction, setWebhook, deleteWebhook, getWebhookInfo
    a wrong token → 401 "Unauthorized", an unknown method → 404 "Not Found"

Controls (`/_fake/…`, JSON; also as methods of `TelegramFake`):
    POST /_fake/messages {user_id, text, chat_id?, chat_type?, first_name?, date?} → the Update, delivered
    POST /_fake/deliver  {update}                      → deliver a given Update again (a redelivery)
    GET  /_fake/sent[?chat_id=]                        → the calls the bot made
    POST /_fake/flood    {count, retry_after}          → the next `count` sendMessage calls answer 429
    POST /_fake/reset
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devstack.emulators.loopback import LoopbackFake, LoopbackServer

BOT_ID = 7000000001
MAX_TEXT = 4096
CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}


def _err(code: int, description: str, **parameters: Any) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


class TelegramState:
    def __init__(self, token: str, username: str, webhook_url: str | None, secret: str | None) -> None:
        self.token = token
        self.username = username
        self.webhook_url = webhook_url
        self.secret = secret
        self.lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self.next_update_id = 100000
        self.next_message_id = 1
        self.flood = 0
        self.flood_retry_after = 1

    def bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "OpenAgents", "username": self.username}

    def new_update(self, *, user_id: int, text: str, chat_id: int | None = None, chat_type: str = "private",
                   first_name: str = "Test", date: int | None = None) -> dict[str, Any]:
        with self.lock:
            update_id = self.next_update_id
            self.next_update_id += 1
            message_id = self.next_message_id
            self.next_message_id += 1
        chat: dict[str, Any] = {"id": chat_id if chat_id is not None else user_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = "Test group"
        message: dict[str, Any] = {
            "message_id": message_id, "date": date if date is not None else int(time.time()), "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"},
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": update_id, "message": message}


def _params(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        data = json.loads(raw)
        return data if isinstance(data, dict) else {}
    from urllib.parse import parse_qsl

    out: dict[str, Any] = {}
    for k, v in parse_qsl(raw.decode(), keep_blank_values=True):
        try:  # python-telegram-bot JSON-encodes non-string values
            out[k] = json.loads(v) if k not in ("text",) else v
        except ValueError:
            out[k] = v
    return out


def create_app(state: TelegramState) -> Starlette:
    async def bot_method(request: Request) -> JSONResponse:
        token = request.path_params["token"]
        method = request.path_params["method"]
        if token != state.token:
            return _err(401, "Unauthorized")
        params = _params(await request.body(), request.headers.get("content-type", ""))
        if method == "getMe":
            return _ok(state.bot_user())
        if method == "sendMessage":
            return send_message(params)
        if method == "sendChatAction":
            if "chat_id" not in params or params.get("action") not in CHAT_ACTIONS:
                return _err(400, "Bad Request: wrong parameter action in request")
            with state.lock:
                state.calls.append({"method": method, **params, "at": time.time()})
            return _ok(True)
        if method == "setWebhook":
            with state.lock:
                state.webhook_url = params.get("url") or None
                state.secret = params.get("secret_token") or state.secret
            return _ok(True)
        if method == "deleteWebhook":
            with state.lock:
                state.webhook_url = None
            return _ok(True)
        if method == "getWebhookInfo":
            return _ok({"url": state.webhook_url or "", "has_custom_certificate": False, "pending_update_count": 0})
        return _err(404, "Not Found: method not found")

    def send_message(params: dict[str, Any]) -> JSONResponse:
        text = params.get("text")
        if "chat_id" not in params:
            return _err(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            return _err(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            return _err(400, "Bad Request: message is too long")
        with state.lock:
            if state.flood > 0:
                state.flood -= 1
                retry = state.flood_retry_after
                state.calls.append({"method": "sendMessage", "refused": 429, "chat_id": params["chat_id"],
                                    "at": time.time()})
                return _err(429, f"Too Many Requests: retry after {retry}", retry_after=retry)
            message_id = state.next_message_id
            state.next_message_id += 1
            state.calls.append({"method": "sendMessage", **params, "message_id": message_id, "at": time.time()})
        chat_id = params["chat_id"]
        return _ok({"message_id": message_id, "date": int(time.time()), "from": state.bot_user(),
                    "chat": {"id": int(chat_id) if str(chat_id).lstrip("-").isdigit() else chat_id, "type": "private"},
                    "text": text})

    async def inject(request: Request) -> JSONResponse:
        body = await request.json()
        update = state.new_update(user_id=int(body["user_id"]), text=str(body["text"]),
                                  chat_id=body.get("chat_id"), chat_type=body.get("chat_type", "private"),
                                  first_name=body.get("first_name", "Test"), date=body.get("date"))
        status = await _deliver_async(state, update)
        return JSONResponse({"update": update, "webhook_status": status})

    async def deliver(request: Request) -> JSONResponse:
        update = (await request.json())["update"]
        return JSONResponse({"update": update, "webhook_status": await _deliver_async(state, update)})

    async def sent(request: Request) -> JSONResponse:
        chat = request.query_params.get("chat_id")
        with state.lock:
            calls = [c for c in state.calls if chat is None or str(c.get("chat_id")) == chat]
        return JSONResponse({"items": calls})

    async def flood(request: Request) -> JSONResponse:
        body = await request.json()
        with state.lock:
            state.flood = int(body.get("count", 1))
            state.flood_retry_after = int(body.get("retry_after", 1))
        return JSONResponse({"ok": True})

    async def reset(request: Request) -> JSONResponse:
        with state.lock:
            state.calls.clear()
            state.flood = 0
        return JSONResponse({"ok": True})

    return Starlette(routes=[
        Route("/bot{token}/{method}", bot_method, methods=["GET", "POST"]),
        Route("/_fake/messages", inject, methods=["POST"]),
        Route("/_fake/deliver", deliver, methods=["POST"]),
        Route("/_fake/sent", sent, methods=["GET"]),
        Route("/_fake/flood", flood, methods=["POST"]),
        Route("/_fake/reset", reset, methods=["POST"]),
    ])


def _headers(state: TelegramState) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if state.secret:
        headers["X-Telegram-Bot-Api-Secret-Token"] = state.secret
    return headers


async def _deliver_async(state: TelegramState, update: dict[str, Any]) -> int | None:
    if not state.webhook_url:
        return None
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        resp = await client.post(state.webhook_url, content=json.dumps(update), headers=_headers(state))
    return resp.status_code


class TelegramFake(LoopbackFake):
    def __init__(self, *, token: str, username: str = "openagents_dev_bot", webhook_url: str | None = None,
                 secret: str | None = None, port: int = 0) -> None:
        self.state = TelegramState(token, username, webhook_url, secret)
        self.server = LoopbackServer(create_app(self.state), name="telegram-fake", port=port)

    def deliver(self, update: dict[str, Any]) -> int:
        """Posts an Update to the webhook as Telegram does; the webhook's HTTP status."""
        assert self.state.webhook_url, "no webhook set"
        resp = httpx.post(self.state.webhook_url, content=json.dumps(update), headers=_headers(self.state),
                          timeout=30, trust_env=False)
        return resp.status_code

    def send_user_message(self, user_id: int, text: str, **kw: Any) -> tuple[dict[str, Any], int]:
        update = self.state.new_update(user_id=user_id, text=text, **kw)
        return update, self.deliver(update)

    def sent(self, chat_id: int | str | None = None, method: str | None = "sendMessage") -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(c) for c in self.state.calls
                    if (chat_id is None or str(c.get("chat_id")) == str(chat_id))
                    and (method is None or c["method"] == method) and "refused" not in c]

    def refused(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(c) for c in self.state.calls if "refused" in c]

    def flood(self, count: int, retry_after: int = 1) -> None:
        with self.state.lock:
            self.state.flood = count
            self.state.flood_retry_after = retry_after

    def reset(self) -> None:
        with self.state.lock:
            self.state.calls.clear()
            self.state.flood = 0

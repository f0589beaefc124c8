"""The WhatsApp fake.

`POST /<version>/<phone number id>/messages` (`Authorization: Bearer <token>`): text (body ≤ 4096),
template and read-receipt (+ typing indicator) messages; answers `{messaging_product, contacts,
messages: [{id}]}`. Errors as the Graph API gives them (`{error: {message, type, code, fbtrace_id}}`):
throttling 130429 (HTTP 400), and 131047 for a free-form message to a user whose last message is older
than 24 hours (the fake tracks each user's last inbound message).

Deliveries: `send_text(wa_id, text, timestamp=…)` posts a notification shaped like Meta's to the
webhook, signed with the app secret; `send_media(wa_id, kind)` an image, audio, sticker … message;
`deliver(notification)` re-sends one. Every text or template message the fake accepts is followed,
after the answer, by its `sent` and `delivered` status notifications (echoing the send's
`biz_opaque_callback_data`), signed the same way; `state.statuses = False` loses them.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devstack.emulators.loopback import LoopbackFake, LoopbackServer

WABA_ID = "102290129340398"
DISPLAY_NUMBER = "15550783881"


def _error(code: int, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "OAuthException", "code": code,
                                   "fbtrace_id": "AfakeTrace"}}, status_code=status)


class WhatsAppState:
    def __init__(self, token: str, app_secret: str, phone_number_id: str) -> None:
        self.token = token
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.webhook_url: str | None = None
        self.lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self.last_inbound: dict[str, float] = {}
        self.flood = 0
        self.statuses = True  # post status webhooks for accepted messages (off: Meta's are lost)
        self._seq = itertools.count(1)

    def wamid(self) -> str:
        return f"wamid.HBgL{next(self._seq):016d}"


def create_app(state: WhatsAppState) -> Starlette:
    async def messages(request: Request) -> JSONResponse:
        if request.path_params["phone_id"] != state.phone_number_id:
            return _error(100, "Unsupported post request. Object does not exist")
        if request.headers.get("authorization", "") != f"Bearer {state.token}":
            return _error(190, "Invalid OAuth access token.", 401)
        body = await request.json()
        if body.get("messaging_product") != "whatsapp":
            return _error(100, "The parameter messaging_product is required.")
        if body.get("status") == "read":
            with state.lock:
                state.calls.append({"kind": "read", **body})
            return JSONResponse({"success": True})
        to = str(body.get("to", ""))
        kind = body.get("type")
        with state.lock:
            if state.flood > 0:
                state.flood -= 1
                state.calls.append({"kind": kind, "refused": 130429, "to": to})
                return _error(130429, "Rate limit hit")
            last = state.last_inbound.get(to)
            if kind == "text":
                text = (body.get("text") or {}).get("body", "")
                if not text or len(text) > 4096:
                    return _error(100, "Invalid parameter")
                if last is None or time.time() - last > 24 * 3600:
                    state.calls.append({"kind": kind, "refused": 131047, "to": to})
                    return _error(131047, "Re-engagement message")
            elif kind != "template":
                return _error(100, "Invalid parameter")
            mid = state.wamid()
            state.calls.append({"kind": kind, **body, "id": mid})
        callback = body.get("biz_opaque_callback_data")
        return JSONResponse({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                             "messages": [{"id": mid}]},
                            background=BackgroundTask(_post_statuses, state, mid, to,
                                                      callback if isinstance(callback, str) else None))

    async def sent(request: Request) -> JSONResponse:
        with state.lock:
            return JSONResponse({"items": list(state.calls)})

    return Starlette(routes=[Route("/{version}/{phone_id}/messages", messages, methods=["POST"]),
                             Route("/_fake/sent", sent, methods=["GET"])])


def status_notification(state: WhatsAppState, message_id: str, to: str, status: str,
                        callback: str | None = None) -> dict[str, Any]:
    """A `statuses` notification for a message the business sent, shaped like Meta's."""
    item: dict[str, Any] = {"id": message_id, "status": status, "timestamp": str(int(time.time())), "recipient_id": to,
                            "conversation": {"id": "CONVERSATION_ID", "origin": {"type": "service"}},
                            "pricing": {"billable": False, "pricing_model": "PMP", "category": "service",
                                        "type": "free_customer_service"}}
    if callback is not None:
        item["biz_opaque_callback_data"] = callback
    return {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": state.phone_number_id},
        "statuses": [item]}}]}]}


async def _post_statuses(state: WhatsAppState, message_id: str, to: str, callback: str | None) -> None:
    """After answering the send, as Meta does: `sent`, then `delivered`, each signed with the app secret."""
    if not state.webhook_url or not state.statuses:
        return
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        for status in ("sent", "delivered"):
            body = json.dumps(status_notification(state, message_id, to, status, callback)).encode()
            sig = "sha256=" + hmac.new(state.app_secret.encode(), body, hashlib.sha256).hexdigest()
            try:
                await client.post(state.webhook_url, content=body,
                                  headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig})
            except httpx.HTTPError:
                return  # Meta would retry; the fake's receiver is gone (a test ended)


class WhatsAppFake(LoopbackFake):
    def __init__(self, *, token: str, app_secret: str, phone_number_id: str, port: int = 0) -> None:
        self.state = WhatsAppState(token, app_secret, phone_number_id)
        self.server = LoopbackServer(create_app(self.state), name="whatsapp-fake", port=port)

    def signature(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self.state.app_secret.encode(), body, hashlib.sha256).hexdigest()

    def notification(self, wa_id: str, text: str, *, timestamp: int | None = None, name: str = "Test User") -> dict[str, Any]:
        ts = timestamp if timestamp is not None else int(time.time())
        with self.state.lock:
            self.state.last_inbound[wa_id] = max(self.state.last_inbound.get(wa_id, 0), ts)
        return {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": self.state.phone_number_id},
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": self.state.wamid(), "timestamp": str(ts), "type": "text",
                          "text": {"body": text}}]}}]}]}

    def deliver(self, notification: dict[str, Any]) -> httpx.Response:
        assert self.state.webhook_url, "no webhook set"
        body = json.dumps(notification).encode()
        return httpx.post(self.state.webhook_url, content=body, timeout=30, trust_env=False,
                          headers={"Content-Type": "application/json", "X-Hub-Signature-256": self.signature(body)})

    def send_text(self, wa_id: str, text: str, **kw: Any) -> tuple[dict[str, Any], httpx.Response]:
        n = self.notification(wa_id, text, **kw)
        return n, self.deliver(n)

    def send_media(self, wa_id: str, kind: str = "image") -> tuple[dict[str, Any], httpx.Response]:
        """A non-text message (`image`, `audio`, `sticker`, `document`, `video`, `location` …)."""
        n = self.notification(wa_id, "-")
        message = n["entry"][0]["changes"][0]["value"]["messages"][0]
        del message["text"]
        message["type"] = kind
        message[kind] = ({"latitude": 52.52, "longitude": 13.40} if kind == "location" else
                         {"id": "1234567890", "mime_type": "image/jpeg" if kind == "image" else "application/octet-stream",
                          "sha256": "b1946ac92492d2347c6235b4d2611184"})
        if kind == "audio":
            message[kind]["voice"] = True
        return n, self.deliver(n)

    def sent(self, to: str | None = None, kind: str | None = "text") -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(c) for c in self.state.calls if "refused" not in c and (to is None or c.get("to") == to)
                    and (kind is None or c.get("kind") == kind)]

    def refused(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(c) for c in self.state.calls if "refused" in c]

    def flood(self, count: int) -> None:
        with self.state.lock:
            self.state.flood = count

    def reset(self) -> None:
        with self.state.lock:
            self.state.calls.clear()
            self.state.flood = 0
            self.state.statuses = True

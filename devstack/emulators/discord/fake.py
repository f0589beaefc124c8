"""The Discord fake.

HTTP API under `/api/v10` (errors as Discord gives them, `{message, code}`; 429 with `retry_after`,
`Retry-After` and `X-RateLimit-*` headers):
    PATCH /webhooks/{app}/{token}/messages/@original   edit the deferred reply (no bot token needed)
    POST  /webhooks/{app}/{token}                      a follow-up
    POST  /channels/{id}/messages                      `Authorization: Bot …`; `nonce` + `enforce_nonce`
                                                       deduplicated, as Discord does
    POST  /channels/{id}/typing
Content ≤ 2000 characters. Interaction tokens are the ones this fake issued, valid 15 minutes.

Deliveries: `command(user, name, options)` posts an APPLICATION_COMMAND interaction signed with the
fake's Ed25519 key (`public_key_hex` is DISCORD_PUBLIC_KEY), `ping()` a PING; `post(body, …)` any
body, with `timestamp=` / a forged signature for tests.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devstack.emulators.loopback import LoopbackFake, LoopbackServer

GUILD = "1200000000000000001"


def _error(status: int, message: str, code: int = 0) -> JSONResponse:
    return JSONResponse({"message": message, "code": code}, status_code=status)


class DiscordState:
    def __init__(self, application_id: str, bot_token: str, key: Ed25519PrivateKey) -> None:
        self.application_id = application_id
        self.bot_token = bot_token
        self.key = key
        self.interactions_url: str | None = None
        self.lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self.tokens: dict[str, float] = {}
        self.originals: dict[str, str] = {}
        self.nonces: dict[tuple[str, str], str] = {}
        self.flood = 0
        self.retry_after = 0.5
        self._seq = itertools.count(1)

    def snowflake(self) -> str:
        return str(1300000000000000000 + next(self._seq))


def create_app(state: DiscordState) -> Starlette:
    def limited(kind: str) -> JSONResponse | None:
        if state.flood > 0:
            state.flood -= 1
            state.calls.append({"kind": kind, "refused": 429})
            return JSONResponse({"message": "You are being rate limited.", "retry_after": state.retry_after,
                                 "global": False}, status_code=429,
                                headers={"Retry-After": str(max(1, round(state.retry_after))),
                                         "X-RateLimit-Remaining": "0",
                                         "X-RateLimit-Reset-After": str(state.retry_after),
                                         "X-RateLimit-Scope": "user"})
        return None

    def content_ok(body: dict[str, Any]) -> JSONResponse | None:
        content = body.get("content")
        if not isinstance(content, str) or not content:
            return _error(400, "Cannot send an empty message", 50006)
        if len(content) > 2000:
            return _error(400, "Invalid Form Body: content: Must be 2000 or fewer in length.", 50035)
        return None

    def token_ok(app: str, token: str) -> bool:
        issued = state.tokens.get(token)
        return app == state.application_id and issued is not None and time.time() - issued < 15 * 60

    async def edit_original(request: Request) -> Response:
        app, token = request.path_params["app"], request.path_params["token"]
        body = await request.json()
        with state.lock:
            if not token_ok(app, token):
                return _error(404, "Unknown Webhook", 10015)
            if (r := limited("edit_original")) or (r := content_ok(body)):
                return r
            mid = state.originals.setdefault(token, state.snowflake())
            state.calls.append({"kind": "edit_original", "token": token, "id": mid, **body})
        return JSONResponse({"id": mid, "content": body["content"], "type": 20})

    async def followup(request: Request) -> Response:
        app, token = request.path_params["app"], request.path_params["token"]
        body = await request.json()
        with state.lock:
            if not token_ok(app, token):
                return _error(404, "Unknown Webhook", 10015)
            if (r := limited("followup")) or (r := content_ok(body)):
                return r
            mid = state.snowflake()
            state.calls.append({"kind": "followup", "token": token, "id": mid, **body})
        return JSONResponse({"id": mid, "content": body["content"], "type": 0})

    async def channel_message(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bot {state.bot_token}":
            return _error(401, "401: Unauthorized", 0)
        channel = request.path_params["channel"]
        body = await request.json()
        with state.lock:
            if (r := limited("channel_message")) or (r := content_ok(body)):
                return r
            nonce = body.get("nonce")
            if nonce is not None and body.get("enforce_nonce") and (channel, str(nonce)) in state.nonces:
                mid = state.nonces[(channel, str(nonce))]  # Discord answers the message it already made
                return JSONResponse({"id": mid, "channel_id": channel, "content": body["content"], "nonce": nonce})
            mid = state.snowflake()
            if nonce is not None:
                state.nonces[(channel, str(nonce))] = mid
            state.calls.append({"kind": "channel_message", "channel_id": channel, "id": mid, **body})
        return JSONResponse({"id": mid, "channel_id": channel, "content": body["content"], "nonce": nonce})

    async def typing(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bot {state.bot_token}":
            return _error(401, "401: Unauthorized", 0)
        with state.lock:
            state.calls.append({"kind": "typing", "channel_id": request.path_params["channel"]})
        return Response(status_code=204)

    async def sent(request: Request) -> JSONResponse:
        with state.lock:
            return JSONResponse({"items": list(state.calls)})

    return Starlette(routes=[
        Route("/api/v10/webhooks/{app}/{token}/messages/@original", edit_original, methods=["PATCH"]),
        Route("/api/v10/webhooks/{app}/{token}", followup, methods=["POST"]),
        Route("/api/v10/channels/{channel}/messages", channel_message, methods=["POST"]),
        Route("/api/v10/channels/{channel}/typing", typing, methods=["POST"]),
        Route("/_fake/sent", sent, methods=["GET"]),
    ])


class DiscordFake(LoopbackFake):
    def __init__(self, *, application_id: str, bot_token: str, private_key_hex: str | None = None,
                 port: int = 0) -> None:
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(private_key_hex)) if private_key_hex \
            else Ed25519PrivateKey.generate()
        self.state = DiscordState(application_id, bot_token, key)
        self.server = LoopbackServer(create_app(self.state), name="discord-fake", port=port)

    @property
    def public_key_hex(self) -> str:
        return self.state.key.public_key().public_bytes(serialization.Encoding.Raw,
                                                        serialization.PublicFormat.Raw).hex()

    @property
    def private_key_hex(self) -> str:
        return self.state.key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                            serialization.NoEncryption()).hex()

    def signed_headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        return {"Content-Type": "application/json", "X-Signature-Timestamp": ts,
                "X-Signature-Ed25519": self.state.key.sign(ts.encode() + body).hex()}

    def interaction(self, user_id: str, name: str, options: dict[str, Any], *, channel_id: str = "1400000000000000001",
                    in_guild: bool = True) -> dict[str, Any]:
        token = "aW50ZXJhY3Rpb246" + self.state.snowflake()
        with self.state.lock:
            self.state.tokens[token] = time.time()
        user = {"id": user_id, "username": f"user{user_id[-4:]}", "global_name": "Test User", "discriminator": "0"}
        body: dict[str, Any] = {
            "id": self.state.snowflake(), "application_id": self.state.application_id, "type": 2, "token": token,
            "version": 1, "channel_id": channel_id, "channel": {"id": channel_id, "type": 0 if in_guild else 1},
            "locale": "en-US", "app_permissions": "2248473465835073", "entitlements": [],
            "authorizing_integration_owners": {"0": GUILD} if in_guild else {"1": user_id}, "context": 0 if in_guild else 1,
            "data": {"id": "1500000000000000001", "name": name, "type": 1,
                     "options": [{"name": k, "type": 3, "value": v} for k, v in options.items()]},
        }
        if in_guild:
            body["guild_id"] = GUILD
            body["member"] = {"user": user, "roles": [], "permissions": "2248473465835073", "nick": None}
        else:
            body["user"] = user
        return body

    def post(self, body: dict[str, Any] | bytes, *, timestamp: int | None = None, forge: bool = False) -> httpx.Response:
        assert self.state.interactions_url, "no interactions URL set"
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = self.signed_headers(raw, timestamp)
        if forge:
            headers["X-Signature-Ed25519"] = Ed25519PrivateKey.generate().sign(raw).hex()
        return httpx.post(self.state.interactions_url, content=raw, headers=headers, timeout=30, trust_env=False)

    def command(self, user_id: str, name: str, options: dict[str, Any], **kw: Any) -> tuple[dict[str, Any], httpx.Response]:
        body = self.interaction(user_id, name, options, **kw)
        return body, self.post(body)

    def sent(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(c) for c in self.state.calls if "refused" not in c and (kind is None or c["kind"] == kind)]

    def refused(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(c) for c in self.state.calls if "refused" in c]

    def flood(self, count: int, retry_after: float = 0.5) -> None:
        with self.state.lock:
            self.state.flood, self.state.retry_after = count, retry_after

    def reset(self) -> None:
        with self.state.lock:
            self.state.calls.clear()
            self.state.flood = 0

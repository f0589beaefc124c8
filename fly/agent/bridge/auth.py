"""Bearer-token check in front of every route (ARCHITECTURE §5a).

Every request must carry `Authorization: Bearer <instance gateway token>` (compared in constant time),
else 401. The one exception is `GET /health`: Fly's machine check calls it without credentials and it
answers only `{"ok": true}` — readiness, skills and everything else need the token.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.bridge import protocol

OPEN_PATHS = protocol.OPEN_PATHS


def token_matches(header: str | None, expected: str) -> bool:
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), expected.encode())


class BearerAuth:
    """Pure ASGI middleware, so it also guards streaming responses before they start."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["path"] in OPEN_PATHS and scope["method"] in ("GET", "HEAD")):
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if token_matches(header, self.token):
            await self.app(scope, receive, send)
            return
        body = protocol.problem_bytes(401, "Unauthorized", "a valid bearer token is required")
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", protocol.PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="agent-bridge"'),
        ]})
        await send({"type": "http.response.body", "body": body})

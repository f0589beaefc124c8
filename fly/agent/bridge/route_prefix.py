"""Turns arrive under their machine's route (`/r/<route>/v1/turns…`, `shared.bridge.protocol`): the
path Fly's edge caches the SSE gateway's replay for. The bridge serves them as if unprefixed; the
route is not a credential here (the gateway token is: `auth.BearerAuth` runs first)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.bridge import protocol


class RoutePrefix:
    """Pure ASGI: drops a leading `/r/<route>` from the path before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(protocol.ROUTE_PREFIX):
            path = protocol.unrouted(scope["path"])
            if path != scope["path"]:
                scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)

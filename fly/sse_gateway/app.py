"""The SSE gateway: a persistent ASGI process on Fly that routes a chat stream to its agent machine.

It verifies the stream token the API signed for one instance and answers with
`fly-replay: app=<app>;instance=<machine id>`; Fly's proxy then replays the same request (body
included, ≤ 1 MB) to that machine's bridge. The gateway never touches the stream itself.
"""

from __future__ import annotations

import hmac
import os
import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared import metrics
from shared.bridge import protocol
from shared.streaming.tokens import StreamTokenError, verify

_SAFE = re.compile(r"^[a-z0-9-]{1,63}$")


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(protocol.problem(status, title, detail), status_code=status,
                        media_type=protocol.PROBLEM_MEDIA_TYPE)


def create_app(public_key: str | None = None, metrics_token: str | None = None) -> Starlette:
    key = public_key or os.environ.get("STREAM_TOKEN_PUBLIC_KEY", "")
    scrape_token = metrics_token or os.environ.get("METRICS_TOKEN", "")

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def route(request: Request) -> Response:
        token = request.headers.get(protocol.STREAM_TOKEN, "")
        if not token or not key:
            metrics.SSE_ROUTED.inc("no_token")
            return _problem(401, "Unauthorized", "A stream token is required.")
        try:
            target = verify(token, key)
        except StreamTokenError:
            metrics.SSE_ROUTED.inc("bad_token")
            return _problem(401, "Unauthorized", "The stream token is not valid.")
        if not (_SAFE.match(target.app) and re.fullmatch(r"[0-9a-z]{1,40}", target.machine_id)):
            metrics.SSE_ROUTED.inc("bad_target")
            return _problem(400, "Bad Request", "The stream target is malformed.")
        metrics.SSE_ROUTED.inc("replayed")
        return Response(status_code=204,
                        headers={protocol.FLY_REPLAY: f"app={target.app};instance={target.machine_id}"})

    async def scrape(request: Request) -> Response:
        given = request.headers.get("Authorization", "")
        # Unset counts as wrong, as on the API: a gateway without the token refuses every scrape.
        if not scrape_token or not hmac.compare_digest(given.encode(), f"Bearer {scrape_token}".encode()):
            return _problem(401, "Unauthorized", "Metrics scrapes need `Authorization: Bearer $METRICS_TOKEN`.")
        return Response(metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE})

    return Starlette(routes=[
        Route(protocol.HEALTH, health, methods=["GET"]),
        Route("/metrics", scrape, methods=["GET"]),
        Route(protocol.TURNS, route, methods=["POST"]),
        Route(protocol.TURNS + "/{rest:path}", route, methods=["GET", "POST"]),
    ])


app = create_app()

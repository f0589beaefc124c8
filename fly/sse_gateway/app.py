"""The SSE gateway: a persistent ASGI process on Fly that routes a chat stream to its agent machine.

It verifies the stream token the API signed for one instance and answers with
`fly-replay: app=<app>;instance=<machine id>`; Fly's proxy then replays the same request (body
included, ≤ 1 MB) to that machine's bridge. The gateway never touches the stream itself.

A turn sent under its machine's route (`/r/<route>/v1/turns…`, the token naming the same route) is
answered with `fly-replay-cache: <host>/r/<route>/*` too: Fly's edge then sends that machine's later
turns straight to it for ROUTE_CACHE_TTL_S, skipping this hop. What guards the machine on such a hit
is what guards it always — the bridge refuses any request without the instance's gateway token,
which only the API and that machine hold — while the route itself is an HMAC only the API can
compute (so nobody else can wake a machine through the cache), and it changes with the machine (so
a replaced machine gets a new route and the stale entry is never asked for). No bypass is allowed:
nothing needs it, and it would let a client push load back onto the gateway.
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
ROUTE_CACHE_TTL_S = 300


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
        route = str(request.path_params.get("route") or "")
        if not hmac.compare_digest(route.encode(), target.route.encode()):
            metrics.SSE_ROUTED.inc("bad_route")
            return _problem(403, "Forbidden", "The stream token is for another route.")
        headers = {protocol.FLY_REPLAY: f"app={target.app};instance={target.machine_id}"}
        if route:
            host = request.headers.get("host", "").split(":")[0].lower()
            headers.update({"fly-replay-cache": f"{host}{protocol.ROUTE_PREFIX}{route}/*",
                            "fly-replay-cache-ttl-secs": str(ROUTE_CACHE_TTL_S)})
        metrics.SSE_ROUTED.inc("replayed")
        return Response(status_code=204, headers=headers)

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
        Route(protocol.ROUTE_PREFIX + "{route}" + protocol.TURNS, route, methods=["POST"]),
        Route(protocol.ROUTE_PREFIX + "{route}" + protocol.TURNS + "/{rest:path}", route, methods=["GET", "POST"]),
    ])


app = create_app()

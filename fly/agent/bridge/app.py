"""The bridge's ASGI app: the agent machine's one listener (ARCHITECTURE §5a, *fixed* contract).

    GET  /health                 bridge alive → {"ok": true}                      (no token needed)
    GET  /ready                  runtime ready → 200, else 503; both {ready, runtime, details, bundle, skills}
    POST /v1/turns               a turn as text/event-stream (turns.py)
    GET  /v1/turns/{turn_id}     a turn's state (turns.py)
    GET  /v1/turns/{turn_id}/events   re-attach to a turn's events after Last-Event-ID (turns.py)
    POST /v1/turns/{turn_id}/hold     keep a turn running without listeners for a while (turns.py)
    GET  /v1/files               editable files (files.py)
    GET  /v1/files/{path}        one file
    PUT  /v1/files/{path}        write one file
    PUT  /v1/bundle              write an agent version's files (bundle.py)
    GET  /v1/bundle              what the last bundle wrote

Any path may come under a machine route, `/r/<route>/…` (route_prefix.py: how turns arrive through
the SSE gateway). Every route but /health needs `Authorization: Bearer <GATEWAY_TOKEN>` (auth.py). Errors are
`application/problem+json`. Paths, headers, event names and framing are `shared.bridge.protocol`'s,
which the platform's bridge client uses too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fly.agent.bridge import bundle, files, turns
from fly.agent.bridge.auth import BearerAuth
from fly.agent.bridge.config import BridgeConfig
from fly.agent.bridge.problems import BridgeError, problem
from fly.agent.bridge.route_prefix import RoutePrefix
from fly.agent.bridge.runtime import Runtime, make_runtime
from shared.bridge import protocol

log = logging.getLogger("bridge")


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def ready(request: Request) -> JSONResponse:
    app_state = request.app.state
    runtime: Runtime = app_state.runtime
    try:
        is_ready, details = await runtime.readiness()
    except Exception as exc:  # readiness must answer, whatever the runtime does
        is_ready, details = False, {"error": f"{type(exc).__name__}: {exc}"[:300]}
    state = app_state.bundle_state
    body = {"ready": bool(is_ready and app_state.started), "runtime": runtime.name, "details": details,
            "bundle": {"version": state.version, "updated_at": state.updated_at},
            "skills": state.skills_report()}
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


async def _bridge_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BridgeError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not found", 405: "Method not allowed"}
    return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail),
                   headers=dict(exc.headers) if exc.headers else None)


def create_app(config: BridgeConfig, runtime: Runtime | None = None) -> Any:
    runtime = runtime or make_runtime(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.bundle_state = await anyio.to_thread.run_sync(
            bundle.prepare_skills, config.workspace, config.state_dir, config.public_keys)
        refused = app.state.bundle_state.refused
        if refused:
            log.warning("skills refused", extra={"refused": refused})
        await runtime.start()
        app.state.started = True
        log.info("bridge started", extra={"runtime": runtime.name, "port": config.port})
        try:
            yield
        finally:
            app.state.started = False
            await app.state.turns.close()
            await runtime.close()

    app = Starlette(
        routes=[
            Route(protocol.HEALTH, health, methods=["GET"]),
            Route(protocol.READY, ready, methods=["GET"]),
            Route(protocol.TURNS, turns.post_turn, methods=["POST"]),
            Route(protocol.TURNS + "/{turn_id}", turns.get_turn, methods=["GET"]),
            Route(protocol.TURNS + "/{turn_id}/events", turns.get_turn_events, methods=["GET"]),
            Route(protocol.TURNS + "/{turn_id}/hold", turns.post_turn_hold, methods=["POST"]),
            Route(protocol.FILES, files.list_files, methods=["GET"]),
            Route(protocol.FILES + "/{path:path}", files.get_file, methods=["GET"]),
            Route(protocol.FILES + "/{path:path}", files.put_file, methods=["PUT"]),
            Route(protocol.BUNDLE, bundle.put_bundle, methods=["PUT"]),
            Route(protocol.BUNDLE, bundle.get_bundle, methods=["GET"]),
        ],
        exception_handlers={BridgeError: _bridge_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.runtime = runtime
    app.state.turns = turns.TurnRegistry(runtime, config.turn_retention_s)
    app.state.write_lock = asyncio.Lock()
    app.state.started = False
    from fly.agent.bridge.state import BundleState

    app.state.bundle_state = BundleState()
    return BearerAuth(RoutePrefix(app), config.gateway_token)

"""The OpenClaw runtime: the real gateway on loopback behind the bridge (ARCHITECTURE §5a, CONTRACTS §H).

Text and usage: `POST /v1/chat/completions` with `stream: true`, `stream_options.include_usage`,
`x-openclaw-session-key: <session_key>` and only the new user message (OpenClaw's session keeps the
history). Each `delta.content` becomes a `token`, the usage chunk becomes `done.usage`
(`prompt_tokens` → `input_tokens`, `completion_tokens` → `output_tokens`, summed by OpenClaw over
every model call of the run), an in-stream `{"error": …}` chunk becomes `error`. Closing the turn's
stream closes this request, which cancels the run in OpenClaw.

Tool events: one long-lived WebSocket (protocol v4, loopback + token, `caps: ["tool-events"]`,
scope `operator.read`) subscribed with `sessions.subscribe {}`. OpenClaw then sends `session.tool`
events for every run, `{runId, sessionKey: "agent:<agent>:<session_key>", data: {phase: "start",
name, toolCallId, args} | {phase: "result", name, toolCallId, isError, result: {content: [{type:
"text", text}]}}}`. The run id equals the chat completion's `id`, so a turn takes the tool events of
its own run only. They become `tool {name, phase, call_id, args}` / `tool {name, phase, call_id,
is_error, result}` (result text cut at 4,000 characters). The socket reconnects with backoff; a turn
waits up to 5 s for it before starting, and runs without tool events if it is down (text still works).

Readiness: the gateway's `GET /readyz` answers 200 (checked at most once a second) and the tool-event
socket is subscribed — or has kept failing for 20 s after the gateway got ready (then turns run
without tool events rather than not at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from fly.agent.bridge.runtime.contract import Event, TurnRequest
from shared.bridge import protocol

log = logging.getLogger("bridge.openclaw")

PROTOCOL_VERSION = 4
CLIENT_ID = "gateway-client"  # OpenClaw accepts only ids from its own list
CLIENT_VERSION = "openagents-bridge/1"
MAX_TOOL_RESULT_CHARS = 4000
WS_WAIT_S = 5.0
WS_READY_GRACE_S = 20.0
WS_OPEN_TIMEOUT_S = 5.0
WS_MAX_MESSAGE_BYTES = 64 << 20  # OpenClaw advertises maxPayload 25 MiB; a session snapshot can be large


def _tool_result_text(result: Any) -> str:
    if isinstance(result, dict) and isinstance(result.get("content"), list):
        text = "".join(p.get("text", "") for p in result["content"] if isinstance(p, dict))
    elif isinstance(result, str):
        text = result
    elif result is None:
        text = ""
    else:
        text = json.dumps(result, default=str)
    return text[:MAX_TOOL_RESULT_CHARS]


def tool_event(data: dict[str, Any]) -> dict[str, Any] | None:
    """OpenClaw's `session.tool` data → the bridge's `tool` event (None for phases we don't relay)."""
    phase = data.get("phase")
    base = {"name": str(data.get("name") or "tool"), "phase": phase, "call_id": str(data.get("toolCallId") or "")}
    if phase == protocol.TOOL_START:
        return {**base, "args": data.get("args")}
    if phase == protocol.TOOL_RESULT:
        return {**base, "is_error": bool(data.get("isError")), "result": _tool_result_text(data.get("result"))}
    return None


async def _open_socket(url: str) -> ClientConnection:
    """The tool-event socket to OpenClaw on loopback, as the hand-written client had it: no proxy from
    the environment, no compression, no pings (OpenClaw sends no keep-alives while tools run and the
    peer is local; a broken socket shows as a closed connection and the loop reconnects)."""
    return await connect(url, open_timeout=WS_OPEN_TIMEOUT_S, max_size=WS_MAX_MESSAGE_BYTES, proxy=None,
                         compression=None, ping_interval=None, user_agent_header=CLIENT_VERSION)


async def _sse_lines(resp: httpx.Response) -> AsyncIterator[str]:
    """The stream's lines by the SSE grammar (httpx's aiter_lines would also break on U+2028 inside
    a JSON chunk)."""
    splitter = protocol.LineSplitter()
    async for text in resp.aiter_text():
        for line in splitter.feed(text):
            yield line
    for line in splitter.flush():
        yield line


class OpenClawRuntime:
    name = "openclaw"

    def __init__(self, url: str, *, token: str | None = None, token_file: Path | None = None,
                 agent_id: str = "main") -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._token_file = token_file
        self.agent_id = agent_id
        self._http: httpx.AsyncClient | None = None
        self._ws_task: asyncio.Task[None] | None = None
        self._listeners: dict[str, set[asyncio.Queue[tuple[str, Any]]]] = defaultdict(set)
        self._ws_ready = asyncio.Event()
        self._ws_error: str | None = None
        self._ready_cache: tuple[float, bool, dict[str, Any]] = (0.0, False, {})
        self._gateway_ready_since: float | None = None
        self._closed = False

    @classmethod
    def from_config(cls, config: Any) -> OpenClawRuntime:
        return cls(config.openclaw_url, token=config.openclaw_token,
                   token_file=config.state_dir / "openclaw-token", agent_id=config.openclaw_agent_id)

    @property
    def token(self) -> str:
        if self._token:
            return self._token
        if self._token_file is not None and self._token_file.exists():
            return self._token_file.read_text().strip()
        raise RuntimeError("no OpenClaw gateway token (OPENCLAW_GATEWAY_TOKEN or the token file)")

    async def start(self) -> None:
        self._http = httpx.AsyncClient(base_url=self.url, timeout=httpx.Timeout(10.0, read=None),
                                       trust_env=False)
        self._ws_task = asyncio.create_task(self._tool_events_loop(), name="openclaw-tool-events")

    async def close(self) -> None:
        self._closed = True
        if self._ws_task is not None:
            self._ws_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ws_task
        if self._http is not None:
            await self._http.aclose()

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        checked_at, ready, details = self._ready_cache
        if time.monotonic() - checked_at < 1.0:
            return ready, details
        assert self._http is not None, "runtime not started"
        try:
            resp = await self._http.get("/readyz", timeout=3.0)
            gateway_ready = resp.status_code == 200
            details = {"gateway": "ready" if gateway_ready else f"not ready ({resp.status_code})"}
        except httpx.HTTPError as exc:
            gateway_ready, details = False, {"gateway": f"unreachable ({type(exc).__name__})"}
        now = time.monotonic()
        if not gateway_ready:
            self._gateway_ready_since = None
        elif self._gateway_ready_since is None:
            self._gateway_ready_since = now
        subscribed = self._ws_ready.is_set()
        details["tool_events"] = "subscribed" if subscribed else (self._ws_error or "connecting")
        # Ready once tool events flow too — or, should the socket keep failing, after a grace period
        # (text still works without it).
        ready = gateway_ready and (subscribed or now - (self._gateway_ready_since or now) > WS_READY_GRACE_S)
        self._ready_cache = (now, ready, details)
        return ready, details

    # ---- tool events over the WebSocket -------------------------------------------------------------

    async def _tool_events_loop(self) -> None:
        backoff = 0.25
        ws_url = "ws" + self.url[len("http"):] + "/"
        while not self._closed:
            ws: ClientConnection | None = None
            try:
                ws = await _open_socket(ws_url)
                await self._handshake(ws)
                backoff = 0.25
                self._ws_error = None
                self._ws_ready.set()
                log.info("tool events subscribed")
                while True:
                    frame = json.loads(await ws.recv(decode=True))
                    if frame.get("type") == "event" and frame.get("event") == "session.tool":
                        self._dispatch(frame.get("payload") or {})
            except asyncio.CancelledError:
                raise
            except (WebSocketException, OSError, TimeoutError, ValueError, RuntimeError) as exc:
                self._ws_error = f"{type(exc).__name__}: {exc}"[:200]
            finally:
                self._ws_ready.clear()
                if ws is not None:
                    with contextlib.suppress(Exception):
                        await ws.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _request(self, ws: ClientConnection, req_id: str, method: str,
                       params: dict[str, Any]) -> dict[str, Any]:
        await ws.send(json.dumps({"type": "req", "id": req_id, "method": method, "params": params}))
        deadline = time.monotonic() + 10
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(decode=True), max(0.1, deadline - time.monotonic())))
            if frame.get("type") == "res" and frame.get("id") == req_id:
                if not frame.get("ok"):
                    raise RuntimeError(f"{method} refused: {json.dumps(frame.get('error'))[:200]}")
                return frame.get("payload") or {}

    async def _handshake(self, ws: ClientConnection) -> None:
        first = json.loads(await asyncio.wait_for(ws.recv(decode=True), 10))
        if first.get("event") != "connect.challenge":
            raise RuntimeError("expected connect.challenge")
        await self._request(ws, "connect", "connect", {
            "minProtocol": PROTOCOL_VERSION, "maxProtocol": PROTOCOL_VERSION,
            "client": {"id": CLIENT_ID, "version": CLIENT_VERSION, "platform": "linux", "mode": "backend"},
            "role": "operator", "scopes": ["operator.read"], "caps": ["tool-events"],
            "auth": {"token": self.token},
        })
        await self._request(ws, "subscribe", "sessions.subscribe", {})

    def _dispatch(self, payload: dict[str, Any]) -> None:
        for queue in list(self._listeners.get(str(payload.get("sessionKey")), ())):
            queue.put_nowait((protocol.TOOL, payload))

    # ---- a turn ------------------------------------------------------------------------------------

    async def run_turn(self, request: TurnRequest) -> AsyncGenerator[Event, None]:
        assert self._http is not None, "runtime not started"
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ws_ready.wait(), WS_WAIT_S)
        session = f"agent:{self.agent_id}:{request.session_key}"
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._listeners[session].add(queue)
        reader = asyncio.create_task(self._completion(request, queue))
        run_id: str | None = None
        seen: set[tuple[str, str]] = set()
        try:
            while True:
                kind, payload = await queue.get()
                if kind == protocol.TOOL:
                    if run_id is not None and payload.get("runId") not in (None, run_id):
                        continue
                    event = tool_event(payload.get("data") or {})
                    if event is not None and (event["call_id"], event["phase"]) not in seen:
                        seen.add((event["call_id"], event["phase"]))
                        yield protocol.TOOL, event
                elif kind == "run_id":
                    run_id = payload
                elif kind == protocol.TOKEN:
                    yield protocol.TOKEN, {"text": payload}
                else:  # done / error: terminal
                    yield kind, payload
                    return
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            self._listeners[session].discard(queue)
            if not self._listeners[session]:
                self._listeners.pop(session, None)

    async def _completion(self, request: TurnRequest, queue: asyncio.Queue[tuple[str, Any]]) -> None:
        assert self._http is not None
        body = {"model": f"openclaw/{self.agent_id}", "stream": True, "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": request.message}]}
        headers = {"Authorization": f"Bearer {self.token}", "x-openclaw-session-key": request.session_key}
        usage: dict[str, Any] | None = None
        try:
            async with self._http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as resp:
                if resp.status_code != 200:
                    raw = (await resp.aread())[:2000]
                    try:
                        message = json.loads(raw)["error"]["message"]
                    except (ValueError, KeyError, TypeError):
                        message = raw.decode("utf-8", "replace")
                    queue.put_nowait((protocol.ERROR, {"title": "Agent runtime refused the turn",
                                                "detail": f"HTTP {resp.status_code}: {message}"[:500]}))
                    return
                run_id_sent = False
                async for line in _sse_lines(resp):
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        u = usage or {}
                        queue.put_nowait((protocol.DONE, {"usage": {"input_tokens": int(u.get("prompt_tokens") or 0),
                                                             "output_tokens": int(u.get("completion_tokens") or 0)}}))
                        return
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        continue
                    if chunk.get("error"):
                        err = chunk["error"]
                        detail = err.get("message") if isinstance(err, dict) else str(err)
                        queue.put_nowait((protocol.ERROR, {"title": "Agent run failed", "detail": str(detail)[:500]}))
                        return
                    if not run_id_sent and chunk.get("id"):
                        queue.put_nowait(("run_id", chunk["id"]))
                        run_id_sent = True
                    if chunk.get("usage"):
                        usage = chunk["usage"]
                    for choice in chunk.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            queue.put_nowait((protocol.TOKEN, text))
            queue.put_nowait((protocol.ERROR, {"title": "Agent stream ended early",
                                        "detail": "OpenClaw closed the stream before [DONE]"}))
        except (httpx.HTTPError, RuntimeError, OSError) as exc:
            queue.put_nowait((protocol.ERROR, {"title": "Agent runtime unavailable",
                                        "detail": f"{type(exc).__name__}: {exc}"[:500]}))

"""Fly's edge proxy, emulated: an ASGI app on its own port in front of the emulated machines.

The app a request enters through: path prefix `/_app/<app>/…` (prefix stripped), else Host
`<app>.fly.dev`, `<app>.flycast` or `<app>.localhost` (browsers and curl resolve `*.localhost` to
127.0.0.1, so `http://<app>.localhost:<proxy port>/` works). Then (first rule that applies):
1. header `fly-force-instance-id: <machine id>` → that machine, which must belong to the app the
   request entered through: on Fly every request enters through one app's hostname and the proxy
   only routes within it, so a machine of another app is answered exactly like an unknown one
   (404 `instance_not_found`; nothing tells the caller it exists). A request naming no app (the bare
   proxy URL, an emulator convenience) may name any machine;
2. path prefix `/_machine/<machine id>/…` → that machine, prefix stripped (emulator-only, no app);
3. the app's machine: a `started` one with the fewest requests in flight, else one that can be
   autostarted;
4. no app → 404 `no_route`.

Like Fly's proxy it
- autostarts a stopped or suspended target (unless its services set `autostart: false`) and waits
  for `started` (then retries the connection while the workload binds its port);
- honours `fly-replay` from the target (header `app=…;instance=…;region=…;prefer_instance=…;
  elsewhere=true;state=…;timeout=…;fallback=prefer_self|force_self`, or a JSON body with
  `Content-Type: application/vnd.fly.replay+json`, including `transform`): the same request
  (method, headers, body ≤ 1 MB) is sent to the new target with `fly-replay-src:
  instance=…;region=…;t=<µs>;state=…`; on fallback the origin gets it back with `fly-replay-failed`;
- caches a replay when the origin asks (`fly-replay-cache: <host>/<path glob>` with
  `fly-replay-cache-ttl-secs` ≥ 10, optional `fly-replay-cache-allow-bypass: yes`; or the JSON form's
  `cache {prefix, ttl, invalidate, allow_bypass}`): later requests entering the same app whose host
  (port dropped) and path match go straight to the cached target, which sees
  `fly-replay-cache-status: hit` and no `fly-replay-src`; the replay that stored it carries `miss`,
  and a client's `fly-replay-cache-control: skip` on an entry that allows it goes to the origin
  with `bypass`. A replay naming `state` is not cached (Fly does not support it). A target answering
  `fly-replay-cache: invalidate` (with its `fly-replay` back to the origin) drops the entries matching
  the request; an entry whose target is gone (destroyed, its app deleted) or cannot be started is
  dropped too and the origin consulted, since on Fly the cache is an optimisation, never the truth;
- streams response bytes as they arrive (chunked, SSE), never buffering, and stops the upstream when
  the client goes away;
- adds `fly-request-id`, `fly-region`, `fly-client-ip`, `x-forwarded-for|proto|port`, `via`.

Simulated machines are answered here, in-process, with the stub's behaviour (`stub_machine.py`).
WebSockets are not proxied.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs

import httpx

from devstack.emulators.fly import ids
from devstack.emulators.fly.state import STARTABLE, App, EmulatorState, Machine, parse_duration

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

log = logging.getLogger("devstack.emulators.fly")

REPLAY_BODY_MAX = 1 << 20  # Fly cannot replay bodies above 1 MB
REQUEST_BODY_MAX = 64 << 20
REPLAY_JSON = "application/vnd.fly.replay+json"
HOST_SUFFIXES = (".fly.dev", ".flycast", ".localhost")
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers", "transfer-encoding", "upgrade"}
)
_REPLAY_FIELD = re.compile(r'\s*([A-Za-z_]+)\s*=\s*("[^"]*"|[^;,]*)')
_TRANSIENT = frozenset({"starting", "restarting", "updating"})
REPLAY_CACHE_MIN_TTL_S = 10
CACHE_STATUS = "fly-replay-cache-status"
# Set only by the edge: a client cannot claim a cache hit (or anything else about replays).
_EDGE_ONLY = frozenset({"fly-replay-src", "fly-replay-failed", CACHE_STATUS})
KEEPALIVE_S = 2.0
# Failures before any byte of an answer: the workload is not listening yet, or a pooled connection
# was closed by the machine as it was reused. Sent again on a fresh connection, as Fly's proxy retries.
_NOT_ANSWERED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)

# `bench stream`'s breakdown: called with (mark, time.perf_counter()) at each step of a request's way
# through the edge — `edge_in`, `cache_hit` (a cached replay applies: no origin asked), `replay_asked`
# (the origin answered fly-replay, or the cache did), `replay_sent` /
# `replay_headers` (the replayed request to its target, its answer's headers), `token_out` (the first
# SSE token frame passed on). None, the default, costs one test per step.
Trace = Callable[[str, float], None]
trace_hook: Trace | None = None


def _trace(mark: str) -> None:
    hook = trace_hook
    if hook is not None:
        hook(mark, time.perf_counter())


def parse_replay(value: str) -> dict[str, str]:
    """`app=a;instance=b` (also `,`-separated, quoted values may hold commas) → fields."""
    return {m.group(1).lower(): m.group(2).strip().strip('"') for m in _REPLAY_FIELD.finditer(value)}


@dataclass
class ProxyRequest:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    replayable: bool
    client_ip: str

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def with_headers(self, drop: set[str], add: list[tuple[str, str]]) -> ProxyRequest:
        kept = [(k, v) for k, v in self.headers if k not in drop and k not in {a for a, _ in add}]
        return replace(self, headers=kept + add)


@dataclass
class Upstream:
    status: int
    headers: list[tuple[str, str]]
    chunks: AsyncIterator[bytes]
    closer: Callable[[], Awaitable[None]] | None = None
    on_close: Callable[[], None] | None = None
    _closed: bool = field(default=False)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.closer is not None:
                await self.closer()
        finally:
            if self.on_close is not None:
                self.on_close()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _json_upstream(status: int, data: Any, headers: list[tuple[str, str]] | None = None) -> Upstream:
    body = json.dumps(data).encode()
    base = [("content-type", "application/json"), ("content-length", str(len(body)))]
    return Upstream(status, base + (headers or []), _once(body))


def _proxy_error(status: int, reason: str, message: str, headers: list[tuple[str, str]] | None = None) -> Upstream:
    return _json_upstream(status, {"error": message}, [("fly-proxy-error", reason), *(headers or [])])


class _NoCandidate(Exception):
    pass


@dataclass(slots=True)
class CachedReplay:
    """One stored replay: requests entering `app` whose `host/path` matches `pattern` go to `fields`."""

    app: str
    pattern: str
    fields: dict[str, Any]
    expires_at: float
    allow_bypass: bool


def _cache_key(request: ProxyRequest) -> str:
    """What a cache pattern is matched against: the Host without its port, then the path."""
    host = (request.header("host") or "").split(":")[0].lower()
    return host + request.path


def _cache_directive(upstream: Upstream, fields: dict[str, Any]) -> dict[str, Any] | None:
    """The `cache` object of a replay answer: the JSON form's, or the `fly-replay-cache*` headers'."""
    cache = fields.get("cache")
    if isinstance(cache, dict):
        return cache
    prefix = upstream.header("fly-replay-cache")
    if not prefix:
        return None
    if prefix.strip().lower() == "invalidate":
        return {"invalidate": True}
    ttl = upstream.header("fly-replay-cache-ttl-secs")
    return {"prefix": prefix.strip(), "ttl": ttl,
            "allow_bypass": (upstream.header("fly-replay-cache-allow-bypass") or "").strip().lower() == "yes"}


class ReplayCache:
    """The edge's replay cache (per emulator; Fly keeps one per edge, so it is never a guarantee)."""

    def __init__(self) -> None:
        self.entries: list[CachedReplay] = []
        self.hits = 0
        self.misses = 0

    def lookup(self, app: str, key: str) -> CachedReplay | None:
        now = time.monotonic()
        self.entries = [e for e in self.entries if e.expires_at > now]
        return next((e for e in self.entries if e.app == app and fnmatch.fnmatchcase(key, e.pattern)), None)

    def store(self, app: str, key: str, fields: dict[str, Any], directive: dict[str, Any]) -> bool:
        """Keeps a replay as Fly would: a pattern that matches this request, a TTL of at least 10 s,
        and no `state` (not supported with caching). Answers whether it was stored."""
        pattern = str(directive.get("prefix") or "")
        try:
            ttl = float(directive.get("ttl") or 0)
        except (TypeError, ValueError):
            return False
        if ttl < REPLAY_CACHE_MIN_TTL_S or not pattern or fields.get("state") or ":" in pattern.split("/", 1)[0]:
            return False
        if not fnmatch.fnmatchcase(key, pattern):
            return False
        kept = {k: v for k, v in fields.items() if k not in ("cache", "transform")}
        self.entries = [e for e in self.entries if not (e.app == app and e.pattern == pattern)]
        self.entries.append(CachedReplay(app, pattern, kept, time.monotonic() + ttl, bool(directive.get("allow_bypass"))))
        return True

    def invalidate(self, key: str) -> None:
        self.entries = [e for e in self.entries if not fnmatch.fnmatchcase(key, e.pattern)]

    def drop(self, entry: CachedReplay) -> None:
        self.entries = [e for e in self.entries if e is not entry]


class FlyProxy:
    def __init__(
        self,
        state: EmulatorState,
        *,
        region: str = "iad",
        autostart_timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        allow_cross_network_replay: bool = True,
        max_replays: int = 5,
    ) -> None:
        self.state = state
        self.region = region
        self.autostart_timeout_s = autostart_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.allow_cross_network_replay = allow_cross_network_replay
        self.max_replays = max_replays
        self.replay_cache = ReplayCache()
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(None, connect=1.0, write=30.0),
                # Idle connections are dropped before the workloads' servers drop them (uvicorn's
                # keep-alive timeout is 5 s): reusing one as the far end closes it resets the request.
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=256, keepalive_expiry=KEEPALIVE_S),
                trust_env=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    # --- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1003})
            return
        self.state.calls["proxy"] += 1
        _trace("edge_in")
        request = await self._read(scope, receive)
        if request is None:
            upstream = _proxy_error(413, "body_too_large", "request body too large")
        else:
            upstream = await self._handle(request)
        await self._respond(upstream, send, receive)

    async def _read(self, scope: Scope, receive: Receive) -> ProxyRequest | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > REQUEST_BODY_MAX:
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        client = scope.get("client") or ("127.0.0.1", 0)
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        headers = [(k, v) for k, v in headers if k not in _EDGE_ONLY]
        return ProxyRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=b"".join(chunks),
            replayable=size <= REPLAY_BODY_MAX,
            client_ip=str(client[0]),
        )

    async def _respond(self, upstream: Upstream, send: Send, receive: Receive) -> None:
        headers = [(k.lower(), v) for k, v in upstream.headers if k.lower() not in _HOP_BY_HOP]
        headers = [(k, v) for k, v in headers if k not in ("fly-replay", "server", "date")]
        headers += [("via", "1.1 fly.io"), ("server", "Fly/emulator"), ("fly-request-id", ids.ulid())]

        async def pump() -> None:
            await send(
                {
                    "type": "http.response.start",
                    "status": upstream.status,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
                }
            )
            timed = trace_hook is not None
            async for chunk in upstream.chunks:
                if chunk:
                    if timed and b"event: token" in chunk:
                        timed = False
                        _trace("token_out")
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def client_gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        pumping = asyncio.ensure_future(pump())
        watching = asyncio.ensure_future(client_gone())
        try:
            await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
            if not pumping.done():
                pumping.cancel()  # the client left mid-stream: stop reading upstream
            (failed,) = await asyncio.gather(pumping, return_exceptions=True)
            if isinstance(failed, Exception):
                # The response is cut short (the client sees an incomplete body), as on Fly's edge (PU02).
                log.warning("fly proxy: response cut short", extra={"fields": {"error": repr(failed), "status": upstream.status}})
        finally:
            watching.cancel()
            await upstream.close()

    # --- routing --------------------------------------------------------------------------------

    def _route(self, request: ProxyRequest) -> tuple[App, Machine | None, ProxyRequest] | Upstream:
        entered = self._entry_app(request)
        if isinstance(entered, Upstream):
            return entered
        app, request = entered
        forced = request.header("fly-force-instance-id")
        if forced:
            m = self.state.machines.get(forced)
            if m is None or m.state == "destroyed" or (app is not None and m.app is not app):
                return _proxy_error(404, "instance_not_found", f"machine {forced} not found")
            return m.app, m, request
        if app is not None:
            return app, None, request
        parts = request.path.split("/", 3)
        if len(parts) >= 3 and parts[1] == "_machine":
            m = self.state.machines.get(parts[2])
            if m is None or m.state == "destroyed":
                return _proxy_error(404, "instance_not_found", f"machine {parts[2]} not found")
            return m.app, m, replace(request, path="/" + (parts[3] if len(parts) > 3 else ""))
        return _proxy_error(404, "no_route", "no route: send fly-force-instance-id, /_app/<app>/…, or Host <app>.fly.dev")

    def _entry_app(self, request: ProxyRequest) -> tuple[App | None, ProxyRequest] | Upstream:
        """The app a request entered through (`/_app/<app>/…`, prefix stripped, or its Host), if any."""
        parts = request.path.split("/", 3)
        if len(parts) >= 3 and parts[1] == "_app":
            app = self.state.apps.get(parts[2])
            if app is None:
                return _proxy_error(404, "app_not_found", f"app {parts[2]} not found")
            return app, replace(request, path="/" + (parts[3] if len(parts) > 3 else ""))
        host = (request.header("host") or "").split(":")[0].lower()
        for suffix in HOST_SUFFIXES:
            if host.endswith(suffix):
                app = self.state.apps.get(host[: -len(suffix)].split(".")[-1])
                if app is None:
                    return _proxy_error(404, "app_not_found", f"no app for host {host}")
                return app, request
        return None, request

    @staticmethod
    def _pick(app: App, *, exclude: Machine | None = None, regions: set[str] | None = None) -> Machine | None:
        live = [m for m in app.machines.values() if m.state != "destroyed" and m is not exclude and (not regions or m.region in regions)]
        started = [m for m in live if m.state == "started"]
        if started:
            return min(started, key=lambda m: m.inflight)
        waking = [m for m in live if m.state in _TRANSIENT]
        startable = [m for m in live if m.state in STARTABLE and m.autostart()]
        return (waking + startable or [None])[0]

    # --- dispatch -------------------------------------------------------------------------------

    async def _handle(self, request: ProxyRequest) -> Upstream:
        routed = self._route(request)
        if isinstance(routed, Upstream):
            return routed
        app, machine, request = routed
        status: str | None = None
        if machine is None:
            entry = self.replay_cache.lookup(app.name, _cache_key(request))
            if entry is not None:
                if entry.allow_bypass and (request.header("fly-replay-cache-control") or "").strip().lower() == "skip":
                    status = "bypass"
                else:
                    cached = await self._replay_cached(request, app, entry)
                    if cached is not None:
                        return cached
        return await self._dispatch(request, app, machine, hops=0, wait_s=self.autostart_timeout_s, cache_status=status)

    async def _replay_cached(self, request: ProxyRequest, entered: App, entry: CachedReplay) -> Upstream | None:
        """A cache hit: the stored replay, straight to its target (no `fly-replay-src`: Fly sets none
        on hits). None when the target is gone or would not start: the entry is dropped and the
        caller asks the origin, as on a miss."""
        fields = entry.fields
        app = self.state.apps.get(str(fields.get("app") or entered.name))
        target = app.machines.get(str(fields["instance"])) if app is not None and fields.get("instance") else None
        if app is None or app.org_slug != entered.org_slug or (target is not None and target.state == "destroyed"):
            self.replay_cache.drop(entry)
            return None
        _trace("cache_hit")
        _trace("replay_asked")
        self.replay_cache.hits += 1
        hit = request.with_headers(set(), [(CACHE_STATUS, "hit")])
        upstream = await self._dispatch(hit, app, target, hops=1, wait_s=self.autostart_timeout_s)
        if upstream.status in (502, 503) and upstream.header("fly-proxy-error"):
            await upstream.close()
            self.replay_cache.drop(entry)
            return None
        return upstream

    async def _dispatch(self, request: ProxyRequest, app: App, machine: Machine | None, *, hops: int, wait_s: float,
                        cache_status: str | None = None) -> Upstream:
        target = machine or self._pick(app)
        if target is None:
            return _proxy_error(503, "no_candidate", f"no machine of app {app.name} can take the request")
        if not await self.state.ensure_started(target, wait_s):
            return _proxy_error(503, "not_started", f"machine {target.id} is {target.state} and was not started")
        upstream = await self._forward(target, request)
        instruction = await self._replay_instruction(upstream)
        if instruction is None:
            return upstream
        _trace("replay_asked")
        await upstream.close()
        if hops >= self.max_replays:
            return _proxy_error(502, "replay_loop", "too many fly-replay hops")
        if not request.replayable:
            return _proxy_error(502, "replay_body_too_large", "request body above 1 MB cannot be replayed")
        directive = _cache_directive(upstream, instruction)
        if directive is not None and directive.get("invalidate"):
            self.replay_cache.invalidate(_cache_key(request))
        elif directive is not None and hops == 0 and self.replay_cache.store(app.name, _cache_key(request), instruction, directive):
            self.replay_cache.misses += 1
            cache_status = cache_status or "miss"
        return await self._replay(request, target, instruction, hops, cache_status)

    async def _replay(self, request: ProxyRequest, origin: Machine, fields: dict[str, Any], hops: int,
                      cache_status: str | None = None) -> Upstream:
        started = time.monotonic()
        src = f"instance={origin.id};region={origin.region};t={int(time.time() * 1e6)}"
        if fields.get("state"):
            src += f";state={fields['state']}"
        wait_s = self.autostart_timeout_s
        if fields.get("timeout"):
            wait_s = parse_duration(str(fields["timeout"]), wait_s)
        add = [("fly-replay-src", src)] + ([(CACHE_STATUS, cache_status)] if cache_status else [])
        try:
            app, target, extra = self._replay_target(origin, fields)
            replayed = self._transform(request.with_headers({"fly-replay-src", CACHE_STATUS}, add + extra), fields.get("transform"))
            if target is None or await self.state.ensure_started(target, wait_s):
                upstream = await self._dispatch(replayed, app, target, hops=hops + 1, wait_s=wait_s)
                if upstream.status != 503 or not upstream.header("fly-proxy-error"):
                    return upstream
                await upstream.close()
            reason = "timeout"
        except _NoCandidate:
            reason = "no_candidate"
        failed = (
            f"instance={fields.get('instance', '')};app={fields.get('app', origin.app.name)};region={origin.region};"
            f"replay_source={origin.id};reason={reason};elapsed_ms={int((time.monotonic() - started) * 1000)}"
        )
        if fields.get("fallback") in ("prefer_self", "force_self"):
            back = request.with_headers({"fly-replay-src", CACHE_STATUS}, [("fly-replay-failed", failed)])
            return await self._forward(origin, back)
        return _proxy_error(503, f"replay_{reason}", "fly-replay target unavailable", [("fly-replay-failed", failed)])

    def _replay_target(self, origin: Machine, fields: dict[str, Any]) -> tuple[App, Machine | None, list[tuple[str, str]]]:
        app = self.state.apps.get(str(fields.get("app") or origin.app.name))
        if app is None or app.org_slug != origin.app.org_slug:
            raise _NoCandidate
        if app is not origin.app and app.network != origin.app.network and not self.allow_cross_network_replay:
            raise _NoCandidate
        exclude = origin if str(fields.get("elsewhere", "")).lower() == "true" else None
        if fields.get("instance"):
            m = app.machines.get(str(fields["instance"]))
            if m is None or m.state == "destroyed":
                raise _NoCandidate
            return app, m, []
        extra: list[tuple[str, str]] = []
        if fields.get("prefer_instance"):
            m = app.machines.get(str(fields["prefer_instance"]))
            if m is not None and (m.state == "started" or m.state in STARTABLE | _TRANSIENT):
                return app, m, []
            extra.append(("fly-preferred-instance-unavailable", str(fields["prefer_instance"])))
        regions = {r.strip() for r in str(fields.get("region") or "").split(",") if r.strip()}
        if regions & {"any", "us", "eu", "na", "sa", "apac"}:
            regions = set()
        m = self._pick(app, exclude=exclude, regions=regions or None)
        if m is None:
            raise _NoCandidate
        return app, m, extra

    @staticmethod
    def _transform(request: ProxyRequest, transform: Any) -> ProxyRequest:
        if not isinstance(transform, dict):
            return request
        drop = {str(h).lower() for h in transform.get("delete_headers") or []}
        add = [(str(h["name"]).lower(), str(h["value"])) for h in transform.get("set_headers") or [] if isinstance(h, dict)]
        out = request.with_headers(drop, add)
        if transform.get("path"):
            path, _, query = str(transform["path"]).partition("?")
            out = replace(out, path=path, query=query or out.query)
        return out

    async def _replay_instruction(self, upstream: Upstream) -> dict[str, Any] | None:
        header = upstream.header("fly-replay")
        if header:
            return parse_replay(header)
        if (upstream.header("content-type") or "").startswith(REPLAY_JSON):
            body = b"".join([chunk async for chunk in upstream.chunks])
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
        return None

    # --- forwarding -----------------------------------------------------------------------------

    def _forward_headers(self, request: ProxyRequest) -> list[tuple[str, str]]:
        headers = [(k, v) for k, v in request.headers if k not in _HOP_BY_HOP and k != "content-length"]
        xff = request.header("x-forwarded-for")
        headers = [(k, v) for k, v in headers if k not in ("x-forwarded-for", "fly-client-ip", "fly-region")]
        headers += [
            ("fly-client-ip", request.client_ip),
            ("x-forwarded-for", f"{xff}, {request.client_ip}" if xff else request.client_ip),
            ("x-forwarded-proto", request.header("x-forwarded-proto") or "http"),
            ("fly-region", self.region),
            ("fly-request-id", ids.ulid()),
            ("via", "1.1 fly.io"),
        ]
        return headers

    async def _forward(self, m: Machine, request: ProxyRequest) -> Upstream:
        m.inflight += 1
        m.last_request_at = time.monotonic()

        def done() -> None:
            m.inflight -= 1
            m.last_request_at = time.monotonic()

        address = self.state.runner.address(m)
        if address is None:
            upstream = simulated_response(m, replace(request, headers=self._forward_headers(request)))
            upstream.on_close = done
            return upstream
        host, port = address
        url = f"http://{host}:{port}{request.path}" + (f"?{request.query}" if request.query else "")
        outgoing = self.client.build_request(request.method, url, headers=self._forward_headers(request), content=request.body)
        deadline = time.monotonic() + self.connect_timeout_s
        attempt = 0
        replayed = trace_hook is not None and (request.header("fly-replay-src") is not None
                                               or request.header(CACHE_STATUS) == "hit")
        if replayed:
            _trace("replay_sent")
        while True:
            try:
                response = await self.client.send(outgoing, stream=True)
                if replayed:
                    _trace("replay_headers")
                break
            except _NOT_ANSWERED as e:
                if time.monotonic() > deadline or m.state not in ("started", "starting"):
                    done()
                    return _proxy_error(502, "connect_failed", f"could not reach machine {m.id}: {type(e).__name__}")
                attempt += 1
                # A stale pooled connection is retried at once; a workload still binding its port
                # right after `started` (or resetting every connection) gets a moment.
                if attempt > 1 or isinstance(e, httpx.ConnectError | httpx.ConnectTimeout):
                    await asyncio.sleep(0.05)
        return Upstream(
            response.status_code,
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw],
            response.aiter_raw(),
            response.aclose,
            done,
        )


# --- what a simulated machine answers -----------------------------------------------------------


async def _sse(n: int, interval: float) -> AsyncIterator[bytes]:
    for i in range(n):
        if i:
            await asyncio.sleep(interval)
        yield f"id: {i + 1}\ndata: {json.dumps({'i': i, 't': time.time()})}\n\n".encode()


def _stub_fly_headers(request: ProxyRequest) -> list[tuple[str, str]]:
    """`x-stub-fly-<name>: v` on a request → response header `fly-<name>: v` beside a stub's replay."""
    return [(k.removeprefix("x-stub-"), v) for k, v in request.headers if k.startswith("x-stub-fly-")]


def simulated_response(m: Machine, request: ProxyRequest) -> Upstream:
    if invalidate := request.header("x-stub-invalidate"):
        if request.header("fly-replay-cache-status") == "hit":
            return _json_upstream(200, {"invalidating": invalidate}, [("fly-replay", invalidate), ("fly-replay-cache", "invalidate")])
    if not (request.header("fly-replay-src") or request.header("fly-replay-failed") or request.header("fly-replay-cache-status")):
        if replay := request.header("x-stub-replay"):
            return _json_upstream(200, {"replaying": replay}, [("fly-replay", replay), *_stub_fly_headers(request)])
        if replay_json := request.header("x-stub-replay-json"):
            data = replay_json.encode()
            return Upstream(200, [("content-type", REPLAY_JSON), ("content-length", str(len(data)))], _once(data))
    if request.method == "GET" and request.path == "/health":
        return _json_upstream(200, {"ok": True})
    if request.method == "GET" and request.path == "/ready":
        return _json_upstream(200, {"ready": True})
    if request.method == "GET" and request.path == "/env":
        env = dict(m.config.get("env") or {})
        env.update({"FLY_APP_NAME": m.app.name, "FLY_MACHINE_ID": m.id, "FLY_REGION": m.region, "FLY_MACHINE_VERSION": m.instance_id})
        return _json_upstream(200, env)
    if request.method == "GET" and request.path == "/stream":
        q = parse_qs(request.query)
        n = min(int(q.get("n", ["5"])[0]), 10_000)
        interval = min(float(q.get("interval", ["0.05"])[0]), 10.0)
        return Upstream(200, [("content-type", "text/event-stream"), ("cache-control", "no-cache")], _sse(n, interval))
    return _json_upstream(
        200,
        {
            "machine_id": m.id,
            "app": m.app.name,
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "headers": dict(request.headers),
            "body": request.body.decode("utf-8", "replace"),
        },
    )

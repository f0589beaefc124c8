"""The platform's one client for an agent machine's bridge (ARCHITECTURE §5a; the contract itself is
`protocol.py`). Every URL, header, token and timeout of a call to a bridge is decided here.

Two routes, one per kind of call:
- **turns** (`POST /v1/turns`, and re-attaching to or holding one: `GET /v1/turns/{id}/events`,
  `POST /v1/turns/{id}/hold`) go to the SSE gateway (`SSE_GATEWAY_URL`) with a stream token signed
  for the instance and turn (`STREAM_TOKEN_PRIVATE_KEY`). The gateway answers `fly-replay` and Fly's
  proxy replays the request, body included, to the instance's machine: the stream never passes
  through the gateway. Each goes under the machine's route (`/r/<route>/v1/turns…`,
  `shared.streaming.tokens.route_key`), for which Fly's edge caches the gateway's answer: later
  turns to a warm machine skip the gateway altogether.
- **everything else** (files, bundle pushes, readiness, liveness) goes straight to Fly's proxy for
  the instance's app (`lifecycle_config().proxy_url(app)`, from `FLY_PROXY_BASE`) with
  `fly-force-instance-id: <machine id>`. The proxy starts a stopped or suspended machine it is sent
  to, so callers that must not wake one (the health check) call only machines Fly reports `started`.

Every call but liveness carries `Authorization: Bearer <the instance's gateway token>`; the token is
never logged (`MachineTarget` keeps it out of its repr). Liveness needs none: Fly's own machine check
calls `/health` bare, so a sweep of thousands of machines reads no secrets.

Timeouts (seconds): connect 10 for every call; a turn's stream may be silent for READ_TIMEOUT_S (60:
the bridge sends a heartbeat every 15 s); files FILE_TIMEOUT_S (30); bundle pushes PUSH_TIMEOUT_S (60,
bundles are up to 32 MiB); probes `HEALTH_PROBE_TIMEOUT_S`.

One `httpx.Client` per process, made on first use and shared by every thread (httpx is imported then,
not at a serverless cold start); `BridgeClient(transport=…)` plugs in another transport. The one
exception is `alive_all` (the health check's sweep): its worker threads get a pool each for the sweep,
measured here ~1.5× faster than all of them contending for one pool's lock (and faster than an
asyncio client).

Errors — what callers catch and map to their own answers. Each carries `status` (the HTTP status, or
None when no answer came) and `detail` (safe to show: never a URL or a token):

    BridgeError
    ├── BridgeNotConfigured   the platform lacks what the route needs (SSE_GATEWAY_URL, the stream key)
    ├── BridgeUnavailable     no answer: the connection could not be made or broke (detail: the error's kind)
    │   └── BridgeTimeout     no answer in time, or a stream went silent
    └── BridgeRefused         an answer other than success, from the bridge or Fly's proxy in front of it;
                              `title` is the HTTP reason, `problem` the body when it was JSON,
                              `retryable` for 5xx, 408, 425 and 429
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.bridge import protocol
from shared.bridge.target import MachineTarget

if TYPE_CHECKING:
    import httpx

    from shared.lifecycle.config import LifecycleConfig

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
FILE_TIMEOUT_S = 30.0
PUSH_TIMEOUT_S = 60.0
MAX_CONNECTIONS = 500
MAX_KEEPALIVE = 100
_RETRYABLE_STATUS = frozenset({408, 425, 429})


class BridgeError(Exception):
    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(f"{status}: {detail}" if status is not None else detail)
        self.status = status
        self.detail = detail


class BridgeNotConfigured(BridgeError):
    pass


class BridgeUnavailable(BridgeError):
    pass


class BridgeTimeout(BridgeUnavailable):
    pass


class BridgeRefused(BridgeError):
    def __init__(self, status: int, detail: str, *, title: str = "", problem: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail, status)
        self.status: int = status
        self.title = title
        self.problem = dict(problem) if problem is not None else None

    @property
    def retryable(self) -> bool:
        return self.status >= 500 or self.status in _RETRYABLE_STATUS


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    status: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class FileBody:
    """GET /v1/files/{path}: the bytes and their metadata (`protocol.FILE_FIELDS`)."""

    content: bytes
    meta: dict[str, Any]
    etag: str | None


@dataclass(frozen=True, slots=True)
class FileWritten:
    """PUT /v1/files/{path}: the file's metadata as written, and its new ETag."""

    meta: dict[str, Any]
    etag: str | None


class TurnEvents(Iterator[protocol.Event | protocol.Comment]):
    """A turn's stream of events, noting whether it has given its terminal event (`done`, `error`).

    Why: a bridge ends its response right after that event, but a caller stops reading at the event
    itself. Closed then, the response has not reached its end and the connection is dropped, so the
    next turn pays a new connection to Fly's edge (TCP and TLS; locally ~1 ms before the first
    token, issue 14). After a terminal event, leaving the stream's block normally reads that end and
    the connection goes back to the pool. Leaving it on an exception, or before a terminal event (a
    cancel, a handoff), closes the stream at once: that is how the bridge learns its listener left."""

    __slots__ = ("_events", "ended")

    def __init__(self, events: Iterator[protocol.Event | protocol.Comment]) -> None:
        self._events = events
        self.ended = False

    def __next__(self) -> protocol.Event | protocol.Comment:
        ev = next(self._events)
        if isinstance(ev, protocol.Event) and ev.event in protocol.TERMINAL:
            self.ended = True
        return ev

    def read_the_end(self) -> None:
        """Reads on to the response's end. Anything after the terminal event (the bridge's contract
        has nothing) is not read: the stream is closed with it, as before."""
        import httpx

        try:
            for _ in self._events:
                return
        except httpx.HTTPError:
            return  # the turn is over; what its stream does now only decides the connection's fate


class BridgeClient:
    def __init__(self, *, transport: httpx.BaseTransport | None = None) -> None:
        self._transport = transport
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _new_http(self, *, max_connections: int = MAX_CONNECTIONS, max_keepalive: int = MAX_KEEPALIVE) -> httpx.Client:
        import httpx

        from shared.tls import client_context

        return httpx.Client(transport=self._transport, trust_env=False, verify=client_context(),
                            timeout=httpx.Timeout(FILE_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
                            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive))

    def _http(self) -> httpx.Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._new_http()
        return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # ---- turns: through the SSE gateway ----------------------------------------------------------------

    def _gateway(self, target: MachineTarget, turn_id: str) -> tuple[str, dict[str, str]]:
        """The gateway's base URL and the headers of a call about one turn (its stream token, the
        machine's bearer token)."""
        from shared.config import get_settings
        from shared.streaming import tokens  # jwt + cryptography: loaded on the first turn

        settings = get_settings()
        if not settings.SSE_GATEWAY_URL or not settings.STREAM_TOKEN_PRIVATE_KEY:
            raise BridgeNotConfigured("Chat streaming is not configured (SSE_GATEWAY_URL).")
        key = settings.STREAM_TOKEN_PRIVATE_KEY.get_secret_value()
        # Under the machine's route, which Fly's edge caches the gateway's replay for: a warm
        # instance's turns skip the gateway hop (see fly/sse_gateway/app.py).
        route = tokens.route_key(target.instance_id, target.app, target.machine_id, key)
        token = tokens.sign(tokens.StreamTarget(target.instance_id, target.app, target.machine_id, turn_id, route), key)
        base = settings.SSE_GATEWAY_URL.rstrip("/") + protocol.ROUTE_PREFIX + route
        return base, {protocol.STREAM_TOKEN: token, **_auth(target)}

    @contextmanager
    def _turn_stream(self, target: MachineTarget, turn_id: str, method: str, path: str, *,
                     body: Mapping[str, Any] | None = None,
                     last_event_id: int | None = None) -> Iterator[Iterator[protocol.Event | protocol.Comment]]:
        import httpx

        base, headers = self._gateway(target, turn_id)
        headers["Accept"] = protocol.SSE_MEDIA_TYPE
        if last_event_id is not None:
            headers[protocol.LAST_EVENT_ID] = str(last_event_id)
        timeout = httpx.Timeout(CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S)
        try:
            with self._http().stream(method, base + path, json=body, headers=headers, timeout=timeout) as resp:
                if resp.status_code != 200:
                    resp.read()
                    raise _refused(resp)
                events = TurnEvents(protocol.parse(protocol.split_lines(resp.iter_text())))
                yield events
                if events.ended:
                    events.read_the_end()
        except httpx.TimeoutException as exc:
            raise BridgeTimeout(type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise BridgeUnavailable(type(exc).__name__) from None

    @contextmanager
    def turn(self, target: MachineTarget, *, turn_id: str, session_key: str, message: str, channel: str = "web",
             last_event_id: int | None = None) -> Iterator[Iterator[protocol.Event | protocol.Comment]]:
        """`POST /v1/turns` as a stream of events and heartbeat comments; leaving the block closes the
        stream (the bridge cancels the run once its last listener has gone, unless it is held)."""
        body = {"turn_id": turn_id, "session_key": session_key, "message": message, "channel": channel}
        with self._turn_stream(target, turn_id, "POST", protocol.TURNS, body=body,
                               last_event_id=last_event_id) as events:
            yield events

    @contextmanager
    def attach(self, target: MachineTarget, *, turn_id: str,
               after: int) -> Iterator[Iterator[protocol.Event | protocol.Comment]]:
        """`GET /v1/turns/{id}/events`: a running or finished turn's events after bridge event `after`,
        then its live tail. Never starts a run: a turn the bridge no longer has (expired, cancelled)
        is BridgeRefused 404 / 409."""
        with self._turn_stream(target, turn_id, "GET", protocol.turn_events_path(turn_id),
                               last_event_id=after) as events:
            yield events

    def hold_turn(self, target: MachineTarget, *, turn_id: str, seconds: float) -> dict[str, Any]:
        """`POST /v1/turns/{id}/hold`: the run outlives its last listener by `seconds` (awaiting a
        re-attach); the turn's summary."""
        import httpx

        base, headers = self._gateway(target, turn_id)
        try:
            resp = self._http().post(base + protocol.turn_hold_path(turn_id), json={"seconds": seconds},
                                     headers=headers, timeout=httpx.Timeout(FILE_TIMEOUT_S, connect=CONNECT_TIMEOUT_S))
        except httpx.TimeoutException as exc:
            raise BridgeTimeout(type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise BridgeUnavailable(type(exc).__name__) from None
        if resp.status_code != 200:
            raise _refused(resp)
        return _json(resp)

    # ---- everything else: through Fly's proxy ----------------------------------------------------------

    def _call(self, target: MachineTarget, method: str, path: str, *, timeout: float, auth: bool = True,
              headers: Mapping[str, str] | None = None, content: bytes | None = None, json: Any = None,
              cfg: LifecycleConfig | None = None, http: httpx.Client | None = None) -> httpx.Response:
        """One request to the machine; a non-2xx answer raises BridgeRefused."""
        import httpx

        cfg = cfg or _lifecycle_config()
        sent = {protocol.FORCE_INSTANCE: target.machine_id, **(_auth(target) if auth else {}), **(headers or {})}
        try:
            resp = (http or self._http()).request(method, cfg.proxy_url(target.app) + path, headers=sent,
                                                  content=content, json=json,
                                                  timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_S)))
        except httpx.TimeoutException as exc:
            raise BridgeTimeout(type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise BridgeUnavailable(type(exc).__name__) from None
        if not 200 <= resp.status_code < 300:
            raise _refused(resp)
        return resp

    def list_files(self, target: MachineTarget) -> list[dict[str, Any]]:
        """GET /v1/files: each editable file's metadata."""
        items = _json(self._call(target, "GET", protocol.FILES, timeout=FILE_TIMEOUT_S)).get("items")
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    def read_file(self, target: MachineTarget, path: str) -> FileBody:
        resp = self._call(target, "GET", protocol.file_path(path), timeout=FILE_TIMEOUT_S)
        return FileBody(resp.content, protocol.file_meta_from_headers(path, resp.headers),
                        resp.headers.get(protocol.ETAG))

    def write_file(self, target: MachineTarget, path: str, data: bytes, *, if_match: str | None = None) -> FileWritten:
        """PUT /v1/files/{path}; with `if_match` (an ETag) the bridge answers 412 when the file changed."""
        headers = {"Content-Type": "application/octet-stream"}
        if if_match:
            headers[protocol.IF_MATCH] = if_match
        resp = self._call(target, "PUT", protocol.file_path(path), timeout=FILE_TIMEOUT_S, headers=headers,
                          content=data)
        return FileWritten(_json(resp), resp.headers.get(protocol.ETAG))

    def push_bundle(self, target: MachineTarget, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT /v1/bundle: the bridge's report `{version, files: {written, …}, skills: {installed, refused}}`."""
        return _json(self._call(target, "PUT", protocol.BUNDLE, timeout=PUSH_TIMEOUT_S, json=dict(body)))

    def bundle_state(self, target: MachineTarget) -> dict[str, Any]:
        """GET /v1/bundle: what the last bundle wrote."""
        return _json(self._call(target, "GET", protocol.BUNDLE, timeout=FILE_TIMEOUT_S))

    # ---- readiness and liveness ------------------------------------------------------------------------

    def _probe(self, target: MachineTarget, path: str, *, auth: bool, cfg: LifecycleConfig | None = None,
               http: httpx.Client | None = None) -> ProbeResult:
        cfg = cfg or _lifecycle_config()
        try:
            resp = self._call(target, "GET", path, timeout=cfg.probe_timeout_s, auth=auth, cfg=cfg, http=http)
        except BridgeRefused as exc:
            return ProbeResult(False, exc.status, exc.title)
        except BridgeError as exc:
            return ProbeResult(False, None, exc.detail)
        return ProbeResult(resp.status_code == 200, resp.status_code, resp.reason_phrase or "")

    def ready(self, target: MachineTarget) -> ProbeResult:
        """GET /ready with the gateway token: ok once the agent runtime is up."""
        return self._probe(target, protocol.READY, auth=True)

    def alive(self, app: str, machine_id: str) -> ProbeResult:
        """GET /health without a token: ok while the bridge runs."""
        return self._probe(MachineTarget("", app, machine_id), protocol.HEALTH, auth=False)

    def alive_all(self, machines: Sequence[tuple[str, str]], *, concurrency: int,
                  retry_delay_s: float = 0.5) -> dict[str, bool]:
        """Liveness of many `(app, machine id)` at once (the health check's sweep): machine id → alive,
        `concurrency` probes in flight (threads, a connection pool each for the sweep), a failed
        probe tried once more after `retry_delay_s`."""
        if not machines:
            return {}
        cfg = _lifecycle_config()
        local = threading.local()
        made: list[httpx.Client] = []
        lock = threading.Lock()

        def worker_http() -> httpx.Client:
            if self._transport is not None:
                return self._http()  # closing a pool closes its transport: a given one is shared, not copied
            http = getattr(local, "http", None)
            if http is None:
                http = local.http = self._new_http(max_connections=100, max_keepalive=20)
                with lock:
                    made.append(http)
            return http

        def once(app: str, machine_id: str) -> bool:
            return self._probe(MachineTarget("", app, machine_id), protocol.HEALTH, auth=False, cfg=cfg,
                               http=worker_http()).ok

        def check(machine: tuple[str, str]) -> tuple[str, bool]:
            app, machine_id = machine
            if once(app, machine_id):
                return machine_id, True
            time.sleep(retry_delay_s)
            return machine_id, once(app, machine_id)

        try:
            with ThreadPoolExecutor(max(1, min(concurrency, len(machines)))) as pool:
                return dict(pool.map(check, machines))
        finally:
            for http in made:
                http.close()

    def wait_ready(self, target: MachineTarget, deadline: float) -> ProbeResult:
        """Poll `/ready` until it answers 200 or `deadline` (monotonic) passes; the last result."""
        delay = 0.1
        while True:
            last = self.ready(target)
            if last.ok or time.monotonic() + delay > deadline:
                return last
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _lifecycle_config() -> LifecycleConfig:
    from shared.lifecycle.config import lifecycle_config

    return lifecycle_config()


def _auth(target: MachineTarget) -> dict[str, str]:
    return {protocol.AUTHORIZATION: protocol.bearer(target.gateway_token)} if target.gateway_token else {}


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _refused(resp: httpx.Response) -> BridgeRefused:
    body = _json(resp) if resp.headers.get("content-type", "").split(";")[0].endswith("json") else {}
    return BridgeRefused(resp.status_code, protocol.problem_detail(body)[:300], title=resp.reason_phrase or "",
                         problem=body or None)


_default: BridgeClient | None = None
_default_lock = threading.Lock()


def bridge_client() -> BridgeClient:
    """The process's client (one connection pool for every caller)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = BridgeClient()
    return _default


__all__ = ["BridgeClient", "BridgeError", "BridgeNotConfigured", "BridgeRefused", "BridgeTimeout",
           "BridgeUnavailable", "FileBody", "FileWritten", "MachineTarget", "ProbeResult", "bridge_client"]

"""The default workload of an emulated machine (process mode): a tiny HTTP server on $PORT.

Standard library only, so it starts in a few tens of milliseconds with `python -I`.

    GET  /health              200 {"ok": true}
    GET  /ready               200 {"ready": true}
    GET  /env                 200 the process environment (what the machine was given)
    GET  /stream?n=&interval= 200 text/event-stream, n events `interval` seconds apart (chunked)
    any  other                200 echo {machine_id, app, method, path, query, headers, body}
    header `x-stub-replay: <v>` on a request that is not itself a replay (no `fly-replay-src` or
                              `fly-replay-failed`)
                              200 with response header `fly-replay: <v>` (to exercise the proxy)
    header `x-stub-replay-json: <json>` (same condition)
                              200 `application/vnd.fly.replay+json` with that body
    headers `x-stub-fly-<name>: <v>` beside `x-stub-replay`
                              also answered as `fly-<name>: <v>` (e.g. `fly-replay-cache`)
    header `x-stub-invalidate: <v>` on a replay-cache hit (`fly-replay-cache-status: hit`)
                              200 with `fly-replay: <v>` and `fly-replay-cache: invalidate`

The same behaviour is answered in-process by the proxy for simulated machines.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_EVENTS = 10_000


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fly-emulator-stub/1"

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes: without NODELAY a keep-alive peer waits ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        sys.stdout.write(f"{self.command} {self.path}\n")

    def _json(self, status: int, data: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        url = urlsplit(self.path)
        body = self._body()
        invalidate = self.headers.get("x-stub-invalidate")
        if invalidate and self.headers.get("fly-replay-cache-status") == "hit":
            self._json(200, {"invalidating": invalidate}, {"fly-replay": invalidate, "fly-replay-cache": "invalidate"})
            return
        if not (self.headers.get("fly-replay-src") or self.headers.get("fly-replay-failed")
                or self.headers.get("fly-replay-cache-status")):
            replay = self.headers.get("x-stub-replay")
            if replay:
                extra = {k.lower().removeprefix("x-stub-"): v for k, v in self.headers.items()
                         if k.lower().startswith("x-stub-fly-")}
                self._json(200, {"replaying": replay}, {"fly-replay": replay, **extra})
                return
            replay_json = self.headers.get("x-stub-replay-json")
            if replay_json:
                data = replay_json.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.fly.replay+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
        if self.command == "GET" and url.path == "/health":
            self._json(200, {"ok": True})
        elif self.command == "GET" and url.path == "/ready":
            self._json(200, {"ready": True})
        elif self.command == "GET" and url.path == "/env":
            self._json(200, dict(os.environ))
        elif self.command == "GET" and url.path == "/stream":
            self._stream(parse_qs(url.query))
        else:
            self._json(
                200,
                {
                    "machine_id": os.environ.get("FLY_MACHINE_ID"),
                    "app": os.environ.get("FLY_APP_NAME"),
                    "method": self.command,
                    "path": url.path,
                    "query": url.query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                },
            )

    def _stream(self, query: dict[str, list[str]]) -> None:
        n = min(int(query.get("n", ["5"])[0]), MAX_EVENTS)
        interval = min(float(query.get("interval", ["0.05"])[0]), 10.0)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(n):
            if i:
                time.sleep(interval)
            chunk = f"id: {i + 1}\ndata: {json.dumps({'i': i, 't': time.time()})}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True

    def _stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sys.stdout.write(f"stub machine {os.environ.get('FLY_MACHINE_ID')} listening on {port}\n")
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

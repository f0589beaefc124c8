"""Serves `api/` and `functions/` exactly as vercel.json routes them, on one local port.

Each function module is imported on first use (like a cold start) and gets the original path, as
Vercel's Python runtime passes it. Unmatched paths answer a problem+json 404, and so does every error
the HTTP server itself answers before any app sees the request (431 for oversized headers, 414, 400):
`make_api_server` is how the local stack, its tests and `devstack.serve` listen.
"""

from __future__ import annotations

import importlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

from shared.config import PROJECT_ROOT
from shared.web.guard import ProblemGuard

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    module: str


def load_routes(vercel_json: Path = PROJECT_ROOT / "vercel.json") -> list[Route]:
    config = json.loads(vercel_json.read_text())
    routes = []
    for r in config.get("routes", []):
        if "src" not in r or "dest" not in r:
            continue
        dest = r["dest"].lstrip("/")
        if not dest.endswith(".py"):
            raise ValueError(f"vercel.json route {r['src']} → {r['dest']}: expected a .py function")
        routes.append(Route(re.compile(r["src"]), dest[:-3].replace("/", ".")))
    return routes


class VercelDispatcher:
    def __init__(self, routes: list[Route] | None = None) -> None:
        self.routes = routes if routes is not None else load_routes()
        self._apps: dict[str, WSGIApp] = {}
        self._lock = threading.Lock()

    def app_for(self, path: str) -> WSGIApp | None:
        for route in self.routes:
            if route.pattern.search(path):
                app = self._apps.get(route.module)
                if app is None:
                    with self._lock:
                        app = self._apps.get(route.module)
                        if app is None:
                            app = importlib.import_module(route.module).app
                            self._apps[route.module] = app
                return app
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        app = self.app_for(environ.get("PATH_INFO", "/"))
        if app is None:
            body = json.dumps({"type": "about:blank", "title": "Not Found", "status": 404,
                               "detail": "No function serves this path."}).encode()
            start_response("404 Not Found", [("Content-Type", "application/problem+json"),
                                             ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)


# The HTTP server's own refusals, with the problem type each gets.
_SERVER_PROBLEMS = {400: "bad-request", 408: "request-timeout", 414: "uri-too-long",
                    431: "headers-too-large", 501: "not-implemented", 505: "http-version-not-supported"}
_SERVER_DETAILS = {414: "The request line is too long.", 431: "The request's header fields are too large or too many."}


_LAST_CHUNK = b"0\r\n\r\n"


class _FlushedAtTheEnd:
    """The handler's buffered writer, flushed once a chunked body's last chunk is written. werkzeug
    writes it without a flush and then waits 10 ms for request bytes left to drain, so without this
    every streamed response (an LLM proxy call above all) ended 10 ms after its last byte."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def write(self, data: bytes) -> int:
        n: int = self._raw.write(data)
        if data == _LAST_CHUNK:
            self._raw.flush()
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class ProblemRequestHandler(WSGIRequestHandler):
    """Answers the errors http.server raises while parsing a request (before WSGI) as problem+json,
    where the standard library writes an HTML page."""

    # Buffered: werkzeug writes a chunked body's length, data and CRLF separately and flushes after
    # each piece of the body, so every streamed event goes out in one send instead of four.
    wbufsize = 64 * 1024
    # Each event is flushed as it is written: none may wait for the client's ACK of the one before.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.wfile = _FlushedAtTheEnd(self.wfile)  # type: ignore[assignment]

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        title = self.responses.get(code, ("Error", ""))[0]
        rid = uuid.uuid4().hex
        problem = {"type": f"https://openagents.dev/problems/{_SERVER_PROBLEMS.get(code, 'http-error')}",
                   "title": title, "status": code,
                   "detail": _SERVER_DETAILS.get(code) or explain or message or title, "request_id": rid}
        body = json.dumps(problem, separators=(",", ":")).encode()
        self.log_error("code %d, message %s", code, message or title)
        self.send_response(code, title)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", rid)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _ApiServer(ThreadedWSGIServer):
    # werkzeug listens with a backlog of 128: connections arriving faster than the accept loop takes
    # them (it waits for the interpreter's lock like every thread) beyond that are dropped, and each
    # client retries a second later. Vercel's edge takes a crowd of browsers at once.
    request_queue_size = 1024


def make_api_server(port: int, host: str = "127.0.0.1", app: WSGIApp | None = None) -> BaseWSGIServer:
    """A threaded local server for the dispatcher (or `app`): problems for the server's own errors,
    and for whatever escapes an app (the dispatcher's imports included)."""
    return _ApiServer(host, port, ProblemGuard(app or VercelDispatcher()), ProblemRequestHandler)

"""The WSGI layer's last guard: whatever escapes the app still reaches the client as a problem.

Flask's error handlers cover the view. They cannot cover what fails after the view returned: an error
while a streamed body is being produced (SSE generators), or one raised by an error handler or an
`after_request` hook. Left alone, the WSGI server answers those with its own HTML error page or
cuts the connection. This middleware holds back the status line until the body's first chunk
exists, so that

    nothing sent yet    → a 500 problem+json with the request id (the one error shape)
    an event stream     → a final `error` event carrying the same problem, then the end
    any other body      → logged; the connection ends short (its length no longer adds up)
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from shared import logs

log = logging.getLogger("openagents.http")
_RID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

INTERNAL = {"type": "https://openagents.dev/problems/internal", "title": "Internal Server Error", "status": 500,
            "detail": "Something went wrong on our side; the request id identifies it."}


class _Response:
    """Remembers the app's start_response call and makes it for real only when asked."""

    def __init__(self, start_response: StartResponse) -> None:
        self.real = start_response
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.exc_info: Any = None
        self.sent = False

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
        self.status, self.headers, self.exc_info = status, headers, exc_info
        return self._write

    def _write(self, data: bytes) -> object:  # the legacy write() callable: sends headers first
        return self.send()(data)

    def send(self) -> Callable[[bytes], object]:
        if self.status is None:
            raise RuntimeError("the app returned a body without calling start_response")
        self.sent = True
        return self.real(self.status, self.headers, self.exc_info)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def _request_id(environ: dict[str, Any], response: _Response) -> str:
    rid = response.header("X-Request-Id") or environ.get("HTTP_X_REQUEST_ID", "")
    return rid if _RID.match(rid) else uuid.uuid4().hex


def _log_unhandled(rid: str, where: str) -> None:
    token = logs.request_id.set(rid)
    try:
        log.exception("unhandled error %s", where)
    finally:
        logs.request_id.reset(token)


class ProblemGuard:
    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        response = _Response(start_response)
        try:
            body = self.app(environ, response.start_response)
        except Exception:
            rid = _request_id(environ, response)
            _log_unhandled(rid, "before the response began")
            return [_problem(start_response, rid)]
        return self._relay(environ, body, response, start_response)

    def _relay(self, environ: dict[str, Any], body: Iterable[bytes], response: _Response,
               start_response: StartResponse) -> Iterator[bytes]:
        try:
            for chunk in body:
                if not response.sent:
                    response.send()
                yield chunk
            if not response.sent:
                response.send()
        except Exception:
            rid = _request_id(environ, response)
            _log_unhandled(rid, "while sending the response")
            if not response.sent:
                yield _problem(start_response, rid)
            elif (response.header("Content-Type") or "").startswith("text/event-stream"):
                data = json.dumps({**INTERNAL, "request_id": rid}, separators=(",", ":"))
                yield f"event: error\ndata: {data}\n\n".encode()
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()


def _problem(start_response: StartResponse, rid: str) -> bytes:
    payload = json.dumps({**INTERNAL, "request_id": rid}, separators=(",", ":")).encode()
    start_response("500 Internal Server Error", [
        ("Content-Type", "application/problem+json"), ("Content-Length", str(len(payload))),
        ("X-Request-Id", rid), ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
    ])
    return payload

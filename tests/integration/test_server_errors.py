"""Errors outside the view are problems too: a streamed body that fails, a failing hook, an app that
raises before answering, and what the local HTTP server refuses before any app runs (431, 414)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Response

from shared.web import Router, create_app
from tests.support.harness import assert_problem


def _streaming_app() -> Any:
    router = Router("guarded")

    @router.get("/api/stream-fails-late", auth="none", stream=True)
    def late(ctx: Any) -> Response:
        def body() -> Iterator[bytes]:
            yield b"event: token\ndata: {}\n\n"
            raise RuntimeError("secret detail: hunter2")
        return Response(body(), mimetype="text/event-stream")

    @router.get("/api/stream-fails-early", auth="none", stream=True)
    def early(ctx: Any) -> Response:
        def body() -> Iterator[bytes]:
            raise RuntimeError("secret detail: hunter2")
            yield b""  # a generator
        return Response(body(), mimetype="text/event-stream")

    @router.get("/api/hook-fails", auth="none")
    def hooked(ctx: Any) -> dict[str, bool]:
        return {"ok": True}

    app = create_app("guarded", [router])

    @app.after_request
    def _broken(resp: Response) -> Response:
        from flask import request

        if request.path == "/api/hook-fails":
            raise RuntimeError("secret detail: hunter2")
        return resp

    return app


def test_a_stream_that_fails_midway_ends_with_an_error_event():
    resp = _streaming_app().test_client().get("/api/stream-fails-late")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200 and text.startswith("event: token")
    assert "hunter2" not in text
    last = text.strip().split("\n\n")[-1].split("\n")
    assert last[0] == "event: error"
    problem = json.loads(last[1].removeprefix("data: "))
    assert problem["status"] == 500 and problem["request_id"] == resp.headers["X-Request-Id"]


def test_a_stream_that_fails_before_its_first_event_is_a_500_problem():
    resp = _streaming_app().test_client().get("/api/stream-fails-early")
    body = assert_problem(resp, 500)
    assert "hunter2" not in resp.get_data(as_text=True) and body["type"].endswith("/internal")


def test_a_failing_hook_is_a_500_problem():
    resp = _streaming_app().test_client().get("/api/hook-fails")
    assert_problem(resp, 500)
    assert "hunter2" not in resp.get_data(as_text=True)


def test_an_app_that_raises_before_answering_is_a_500_problem():
    from werkzeug.test import Client

    from shared.web.guard import ProblemGuard

    def broken(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("secret detail: hunter2")

    resp = Client(ProblemGuard(broken)).get("/x", headers={"X-Request-Id": "req-abcdef12"})
    body = assert_problem(resp, 500)
    assert body["request_id"] == "req-abcdef12"


# --- the local HTTP server (what `make dev` and the e2e stack serve through) ----------------------

@pytest.fixture(scope="module")
def server(database: Any) -> Iterator[int]:
    from devstack.server import make_api_server

    srv = make_api_server(0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv.server_port
    finally:
        srv.shutdown()


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _assert_raw_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict[str, Any]:
    assert status == expected, (status, body[:200])
    assert headers["content-type"] == "application/problem+json", headers
    problem = json.loads(body)
    assert problem["status"] == expected and {"type", "title", "detail", "request_id"} <= problem.keys()
    assert problem["request_id"] == headers["x-request-id"]
    return problem


def test_oversized_header_is_a_431_problem(server):
    big = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    problem = _assert_raw_problem(*_raw(server, big), 431)
    assert problem["type"].endswith("/headers-too-large")
    many = b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(150)) + b"\r\n"
    _assert_raw_problem(*_raw(server, many), 431)


def test_overlong_request_line_is_a_414_problem(server):
    _assert_raw_problem(*_raw(server, b"GET /api/" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"), 414)


def test_the_server_still_serves_normal_requests(server):
    status, headers, body = _raw(server, b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_a_chunked_upload_over_the_limit_is_refused_over_real_http(server, user):
    """The dev server de-chunks the body itself (no Content-Length reaches the app)."""
    import httpx

    def chunks(total: int) -> Iterator[bytes]:
        sent = 0
        while sent < total:
            n = min(64 * 1024, total - sent)
            sent += n
            yield b"a" * n

    url = f"http://127.0.0.1:{server}/api/instances/00000000-0000-4000-8000-000000000000/files/big.bin"
    with httpx.Client(timeout=30) as http:
        resp = http.put(url, content=chunks((1 << 20) + 1), headers=user.headers)
    assert resp.request.headers.get("transfer-encoding") == "chunked"
    assert resp.status_code == 413 and resp.headers["content-type"] == "application/problem+json"


def test_three_hundred_connections_at_once_are_all_taken_then_served(database: Any) -> None:
    """The listen backlog holds a crowd (werkzeug's 128 dropped the rest, each retried a second later):
    300 connections complete while the server is not yet accepting, and every one is then answered."""
    from devstack.server import make_api_server

    srv = make_api_server(0)
    port = srv.server_port
    socks: list[socket.socket] = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    try:
        for _ in range(300):  # the kernel completes each handshake into the backlog: no accept needed
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=0.5))
        for s in socks:
            s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        thread.start()
        for s in socks:
            s.settimeout(30)
            assert s.recv(12).startswith(b"HTTP/1.1 200"), "a queued connection was not answered"
    finally:
        for s in socks:
            s.close()
        if thread.is_alive():
            srv.shutdown()
        srv.server_close()

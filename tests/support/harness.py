"""The test harness every test's HTTP traffic and logs pass through.

`Recorder` keeps every response body/headers and every log line of the session; at the end the
canary check (conftest's `pytest_sessionfinish`) fails the run if any configured secret value shows
up in any of them. `ApiClient` drives the functions in-process exactly as vercel.json routes them;
`HttpClient` drives a running server over real HTTP.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
from werkzeug.test import Client, TestResponse

from shared.logs import JsonFormatter


def _ssh_private_key() -> str:
    """A fresh Ed25519 key in OpenSSH form: the SSH tests store it as an instance's key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()


# Values planted in the test configuration; none may ever be seen in a response or a log line.
CANARIES = {
    "SUPABASE_JWT_SECRET": "canary-jwt-secret-3f9a1c7e5b2d4f6a8c0e",
    "CRON_SECRET": "canary-cron-secret-7d2b9e4f1a3c5e7b9d1f",
    "METRICS_TOKEN": "canary-metrics-token-6e8a0c2e4f6b8d0a2c",
    "FLY_API_TOKEN": "canary-fly-token-5a8c1e3f7b9d2f4a6c8e",
    "STRIPE_SECRET_KEY": "sk_test_canary5b7d9f1a3c5e7a9b1d3f5",
    "STRIPE_WEBHOOK_SECRET": "whsec_canary2c4e6a8b0d2f4a6c8e0b2d",
    "SUPABASE_SERVICE_ROLE_KEY": "canary-service-role-9e1b3d5f7a9c1e3b5d",
    "SKILL_SIGNING_KEY": "canary-signing-key-1f3b5d7e9a2c4e6f8a0b",
    "TELEGRAM_WEBHOOK_SECRET": "canary-telegram-secret-8b0d2f4a6c8e1a3c",
    "SLACK_SIGNING_SECRET": "canary-slack-secret-4d6f8a0c2e4b6d8f0a",
    "WHATSAPP_APP_SECRET": "canary-whatsapp-secret-0a2c4e6f8b1d3f5a",
    # Not a setting: the private key the SSH tests configure (shared.ssh), so it is scanned for too.
    "SSH_TEST_PRIVATE_KEY": _ssh_private_key(),
}


@dataclass
class Recorder:
    responses: list[tuple[str, str, int, str]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    extra_secrets: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def response(self, method: str, path: str, status: int, headers: Any, body: bytes) -> None:
        text = "\n".join(f"{k}: {v}" for k, v in headers.items()) + "\n" + body.decode("utf-8", "replace")
        with self.lock:
            self.responses.append((method, path, status, text))

    def log(self, line: str) -> None:
        with self.lock:
            self.logs.append(line)

    def secret(self, value: str) -> None:
        """Adds a run-time secret (e.g. a generated gateway token) to the canary set."""
        with self.lock:
            self.extra_secrets.add(value)

    def leaks(self) -> list[str]:
        found = []
        canaries = {**CANARIES, **{f"runtime-secret-{i}": s for i, s in enumerate(sorted(self.extra_secrets))}}
        # A multi-line secret (a PEM key) leaks JSON-escaped as often as verbatim: each long line of
        # it is looked for on its own.
        canaries.update({f"{name} (line {n})": line.strip() for name, value in list(canaries.items()) if "\n" in value
                         for n, line in enumerate(value.splitlines()) if len(line.strip()) >= 40})
        for name, value in canaries.items():
            for method, path, status, text in self.responses:
                if value in text:
                    found.append(f"{name} in response to {method} {path} ({status})")
            for line in self.logs:
                if value in line:
                    found.append(f"{name} in log line: {line[:200]}")
        return found


RECORDER = Recorder()


class CaptureHandler(logging.Handler):
    """Formats every record exactly as production does (JSON, redacted) and records it."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(level=logging.DEBUG)
        self.recorder = recorder
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.recorder.log(self.format(record))
        except Exception:  # a broken record must not break the test that logged it
            self.handleError(record)


class ApiClient:
    """In-process client over the Vercel dispatcher; every response is recorded."""

    def __init__(self, app: Any, recorder: Recorder = RECORDER) -> None:
        self.client = Client(app)
        self.recorder = recorder

    def request(self, method: str, path: str, *, token: str | None = None, json_body: Any = None,
                data: bytes | str | None = None, headers: dict[str, str] | None = None,
                query: dict[str, Any] | None = None, buffered: bool = True, chunked: bool = False) -> TestResponse:
        """`chunked`: send the body without Content-Length, as a chunked upload arrives from the server."""
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"headers": hdrs, "query_string": query, "buffered": buffered}
        if json_body is not None:
            kwargs["data"] = json.dumps(json_body)
            hdrs.setdefault("Content-Type", "application/json")
        elif data is not None:
            kwargs["data"] = data
        if chunked:
            raw = kwargs.pop("data", b"")
            kwargs["input_stream"] = io.BytesIO(raw.encode() if isinstance(raw, str) else raw)
            kwargs["environ_overrides"] = {"wsgi.input_terminated": True}
            hdrs["Transfer-Encoding"] = "chunked"
        resp = self.client.open(path, method=method, **kwargs)
        if buffered:
            self.recorder.response(method, path, resp.status_code, resp.headers, resp.get_data())
        return resp

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> TestResponse:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> TestResponse:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> TestResponse:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> TestResponse:
        return self.request("DELETE", path, **kw)


class HttpClient(httpx.Client):
    """httpx against a running server; every response is recorded (streams once read)."""

    def __init__(self, base_url: str, recorder: Recorder = RECORDER, **kw: Any) -> None:
        def record(resp: httpx.Response) -> None:
            resp.read()
            recorder.response(resp.request.method, resp.request.url.path, resp.status_code, resp.headers, resp.content)

        super().__init__(base_url=base_url, event_hooks={"response": [record]}, timeout=30, **kw)


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    """The one error shape: problem+json with type/title/status/detail and the request id."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    assert resp.headers["Content-Type"].startswith("application/problem+json"), resp.headers["Content-Type"]
    body = json.loads(resp.get_data())
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body.get("request_id") == resp.headers.get("X-Request-Id")
    return body

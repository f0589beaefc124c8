"""A fake OpenAI-compatible LLM for driving a real OpenClaw gateway offline (CONTRACTS §H.3).

`POST /v1/chat/completions` answers deterministically, streamed (SSE chunks, a usage chunk, then
`data: [DONE]`) or not:
- when the newest user turn (every user message after the last assistant message — OpenClaw's newest
  user entry is an internal-context block, not the user's text) contains `TOOLTEST`, it asks for one
  tool call (`TOOL_NAME` with `TOOL_ARGUMENTS`) and finishes with `finish_reason: "tool_calls"`;
- when a `role: "tool"` result follows the last assistant message (OpenClaw appends another
  internal-context user block after it), it answers `TOOL_FOLLOWUP`;
- otherwise it answers `ANSWER`; with `SLOWTEST` in the newest user turn, 0.4 s per chunk (a client
  that goes away shows up in `aborted`: the request bodies whose stream broke off).
`POST /v1/messages` answers the same text in Anthropic's Messages shape (streamed: `message_start` …
`message_delta` with the usage … `message_stop`), for the LLM proxy's Anthropic route.
`GET /v1/models` lists the one model. Every request body is kept (`requests`, with lower-cased `headers`
and the wall-clock time it was read, `arrivals`) and, when a path is given, appended to a JSONL file —
the assertion surface for tests.

Knobs for tests: `refuse_keys` (keys answered 401, as a provider refuses a bad key), `fail_next(status, n)`
(the next n calls answer that status), `response_id` (every answer carries this id, as a provider
replaying one answer would).

    with FakeLLM() as llm:            # or FakeLLM(port=...).start() / .stop()
        llm.base_url                  # http://127.0.0.1:<port>/v1
`python -m devstack.fake_llm PORT [RECORD.jsonl]` serves it in the foreground.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODEL_ID = "fake-model"
ANSWER = "Hello from the fake model. The quick brown fox jumps over the lazy dog."
TOOL_FOLLOWUP = "The tool finished and the listing is in."
TOOL_MARKER = "TOOLTEST"
SLOW_MARKER = "SLOWTEST"
SLOW_CHUNK_DELAY_S = 0.4
TOOL_NAME = "ls"
TOOL_ARGUMENTS = {"path": "."}


def _words(text: str) -> list[str]:
    """Chunks the answer word by word, keeping the spaces, so the chunks join back to `text`."""
    out: list[str] = []
    for i, word in enumerate(text.split(" ")):
        out.append(word if i == 0 else " " + word)
    return out


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def plan_reply(body: dict[str, Any]) -> dict[str, Any]:
    """What the fake answers to one request: {"text": ...} or {"tool_call": {...}}."""
    messages = body.get("messages") or []
    last_assistant = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    newest = messages[last_assistant + 1:]
    if any(m.get("role") == "tool" for m in newest):
        return {"text": TOOL_FOLLOWUP}
    user_text = " ".join(_text_of(m.get("content")) for m in newest if m.get("role") == "user")
    if TOOL_MARKER in user_text:
        return {"tool_call": {"id": "call_" + uuid.uuid4().hex[:12], "name": TOOL_NAME,
                              "arguments": json.dumps(TOOL_ARGUMENTS)}}
    return {"text": ANSWER, "slow": SLOW_MARKER in user_text}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm the body waited for the
    # client's delayed ACK of the headers, 40 ms on every whole answer.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _key(self) -> str:
        auth = self.headers.get("Authorization", "")
        return self.headers.get("x-api-key") or (auth[7:] if auth.lower().startswith("bearer ") else "")

    def _refused(self) -> bool:
        owner = self.server.owner
        if self._key() in owner.refuse_keys:
            self._json(401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                       "code": "invalid_api_key"}})
            return True
        status = owner._take_failure()
        if status is not None:
            self._json(status, {"error": {"message": "injected failure", "type": "server_error"}})
            return True
        return False

    def do_GET(self) -> None:
        self.server.owner._record({"method": "GET", "path": self.path}, dict(self.headers))
        if self._refused():
            return
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "owned_by": "fake"}]})
        else:
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") == "/v1/messages":
            self._messages(raw)
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._json(400, {"error": {"message": "bad json", "type": "invalid_request_error"}})
            return
        self.server.owner._record(body, dict(self.headers))
        if self._refused():
            return
        reply = plan_reply(body)
        prompt_tokens = max(1, len(raw) // 4)
        cid = self.server.owner.response_id or "chatcmpl-" + uuid.uuid4().hex
        created = int(time.time())
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": reply.get("text")}
            finish = "stop"
            if "tool_call" in reply:
                tc = reply["tool_call"]
                message["tool_calls"] = [{"id": tc["id"], "type": "function",
                                          "function": {"name": tc["name"], "arguments": tc["arguments"]}}]
                finish = "tool_calls"
            completion = len(_words(reply.get("text") or "x"))
            self._json(200, {"id": cid, "object": "chat.completion", "created": created, "model": MODEL_ID,
                             "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                             "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                                       "total_tokens": prompt_tokens + completion}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> None:
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
            self.wfile.flush()

        try:
            chunk({"role": "assistant", "content": ""})
            if "tool_call" in reply:
                tc = reply["tool_call"]
                chunk({"tool_calls": [{"index": 0, "id": tc["id"], "type": "function",
                                       "function": {"name": tc["name"], "arguments": tc["arguments"]}}]})
                chunk({}, "tool_calls")
                completion = 8
            else:
                pieces = _words(reply["text"])
                delay = SLOW_CHUNK_DELAY_S if reply.get("slow") else self.server.owner.chunk_delay_s
                for piece in pieces:
                    chunk({"content": piece})
                    if delay:
                        time.sleep(delay)
                chunk({}, "stop")
                completion = len(pieces)
            usage = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                     "choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                                              "total_tokens": prompt_tokens + completion}}
            self.wfile.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.server.owner.aborted.append(body)

    def _messages(self, raw: bytes) -> None:
        """Anthropic's Messages API: the same deterministic text, whole or as its event stream."""
        try:
            body = json.loads(raw)
        except ValueError:
            self._json(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "bad json"}})
            return
        self.server.owner._record(body, dict(self.headers))
        if self._refused():
            return
        owner = self.server.owner
        mid = owner.response_id or "msg_" + uuid.uuid4().hex[:24]
        model = body.get("model") or MODEL_ID
        pieces = _words(ANSWER)
        input_tokens = max(1, len(raw) // 4)
        if not body.get("stream"):
            self._json(200, {"id": mid, "type": "message", "role": "assistant", "model": model,
                             "content": [{"type": "text", "text": ANSWER}], "stop_reason": "end_turn",
                             "usage": {"input_tokens": input_tokens, "output_tokens": len(pieces)}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def event(name: str, data: dict[str, Any]) -> None:
            self.wfile.write(f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode())
            self.wfile.flush()

        try:
            event("message_start", {"message": {"id": mid, "type": "message", "role": "assistant", "model": model,
                                                "content": [], "stop_reason": None,
                                                "usage": {"input_tokens": input_tokens, "output_tokens": 1}}})
            event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
            for piece in pieces:
                event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
                if owner.chunk_delay_s:
                    time.sleep(owner.chunk_delay_s)
            event("content_block_stop", {"index": 0})
            event("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": len(pieces)}})
            event("message_stop", {})
        except (BrokenPipeError, ConnectionResetError):
            owner.aborted.append(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops the SYNs of a burst of callers (a second's retry
    # each): ten agents calling at once are an ordinary load for a provider.
    request_queue_size = 128
    owner: FakeLLM


class FakeLLM:
    def __init__(self, port: int = 0, record_path: str | Path | None = None, chunk_delay_s: float = 0.01) -> None:
        self._port = port
        self.record_path = Path(record_path) if record_path else None
        self.chunk_delay_s = chunk_delay_s
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.arrivals: list[float] = []  # time.time() when each request's body had been read
        self.aborted: list[dict[str, Any]] = []
        self.refuse_keys: set[str] = set()
        self.response_id: str | None = None
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        """Without `/v1`: Anthropic clients add it themselves."""
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, status: int, count: int = 1) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def _take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _record(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(body)
            self.arrivals.append(time.time())
            self.headers.append({k.lower(): v for k, v in headers.items()})
            if self.record_path:
                with self.record_path.open("a") as f:
                    f.write(json.dumps(body) + "\n")

    def start(self) -> FakeLLM:
        self._server = _Server(("127.0.0.1", self._port), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def upstream_env(llm: FakeLLM, key: str = "fake-llm-platform-key") -> dict[str, str]:
    """Settings that make the platform's LLM proxy forward to this fake (both dialects)."""
    return {"OPENAI_BASE_URL": llm.base_url, "LLM_UPSTREAM_ANTHROPIC_BASE": llm.root_url,
            "OPENAI_API_KEY": key, "ANTHROPIC_API_KEY": key}


def main(argv: list[str]) -> None:
    port = int(argv[1]) if len(argv) > 1 else 18900
    llm = FakeLLM(port=port, record_path=argv[2] if len(argv) > 2 else None).start()
    print(f"fake LLM on {llm.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        llm.stop()


if __name__ == "__main__":
    main(sys.argv)

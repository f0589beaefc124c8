"""The agent machine's bridge contract (ARCHITECTURE §5a), written once for both of its ends: the
bridge serves it (`fly/agent/bridge`) and the platform's client calls it (`shared/bridge/client.py`).

The machine image copies this file next to the bridge (fly/agent/Dockerfile), so it imports only the
standard library — a test checks it.

    paths     HEALTH, READY, TURNS + turn_path() / turn_events_path() / turn_hold_path(), FILES +
              file_path(), BUNDLE
    headers   AUTHORIZATION (bearer gateway token), FORCE_INSTANCE (`fly-force-instance-id`),
              STREAM_TOKEN (`x-stream-token`), FLY_REPLAY, LAST_EVENT_ID, TURN_ID, ETAG, IF_MATCH,
              FILE_SIZE / FILE_MODIFIED_AT / FILE_ORIGIN / FILE_EDITABLE (a file's metadata on GET)
    events    STATUS, TOKEN, TOOL, DONE, ERROR (what the bridge emits), SESSION (the API's own first event)
    framing   format_event(), HEARTBEAT, LineSplitter / split_lines(), parse() → Event | Comment
    problems  problem() → the `application/problem+json` object, problem_bytes()
    files     FILE_FIELDS, etag(), file_headers() / file_meta_from_headers()
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

# ---- endpoints ----------------------------------------------------------------------------------------

HEALTH = "/health"  # open: Fly's machine check calls it without credentials
READY = "/ready"
TURNS = "/v1/turns"
FILES = "/v1/files"
BUNDLE = "/v1/bundle"
OPEN_PATHS = frozenset({HEALTH})
# A turn sent through the SSE gateway goes under its machine's route (`shared.streaming.tokens`):
# `/r/<route>/v1/turns…`, the prefix Fly's edge caches the gateway's replay for. The bridge serves
# every path with or without it (`unrouted`).
ROUTE_PREFIX = "/r/"
_ROUTE = re.compile(r"^/r/[A-Za-z0-9_-]{1,64}(?=/)")


def routed(route: str, path: str) -> str:
    return f"{ROUTE_PREFIX}{route}{path}" if route else path


def unrouted(path: str) -> str:
    """`path` without a leading `/r/<route>` (as is when it has none)."""
    return _ROUTE.sub("", path, count=1) if path.startswith(ROUTE_PREFIX) else path


def turn_path(turn_id: str) -> str:
    return f"{TURNS}/{quote(turn_id, safe='')}"


def turn_events_path(turn_id: str) -> str:
    """`GET`: re-attach to a turn's events after `Last-Event-ID`; never starts a run."""
    return turn_path(turn_id) + "/events"


def turn_hold_path(turn_id: str) -> str:
    """`POST {"seconds": n}`: keep the run going that long whenever its last listener leaves."""
    return turn_path(turn_id) + "/hold"


MAX_HOLD_S = 3600.0


def file_path(path: str) -> str:
    """`/v1/files/<path>` with each segment percent-encoded (the `/` separators kept)."""
    return f"{FILES}/{quote(path, safe='/')}"


# ---- headers ------------------------------------------------------------------------------------------

AUTHORIZATION = "Authorization"
FORCE_INSTANCE = "fly-force-instance-id"  # Fly's proxy: send this request to that machine
STREAM_TOKEN = "x-stream-token"  # noqa: S105 (a header name) — the SSE gateway: which machine a turn is for
FLY_REPLAY = "fly-replay"  # the SSE gateway's answer: Fly's proxy replays the request there
LAST_EVENT_ID = "Last-Event-ID"
TURN_ID = "x-turn-id"
ETAG = "ETag"
IF_MATCH = "If-Match"
FILE_SIZE = "x-file-size"
FILE_MODIFIED_AT = "x-file-modified-at"
FILE_ORIGIN = "x-file-origin"
FILE_EDITABLE = "x-file-editable"


def bearer(token: str) -> str:
    return f"Bearer {token}"


# ---- turn events --------------------------------------------------------------------------------------

SESSION = "session"  # emitted by the API, first in every turn; never by the bridge
STATUS = "status"
TOKEN = "token"  # noqa: S105 (an event name)
TOOL = "tool"
DONE = "done"
ERROR = "error"
TERMINAL = frozenset({DONE, ERROR})
RELAYED = frozenset({STATUS, TOKEN, TOOL})  # what the API passes on as it comes
TOOL_START, TOOL_RESULT = "start", "result"
STATE_STARTING, STATE_RUNNING, STATE_WAKING = "starting", "running", "waking"

# ---- SSE framing --------------------------------------------------------------------------------------

SSE_MEDIA_TYPE = "text/event-stream"
HEARTBEAT = b": keepalive\n\n"
HEARTBEAT_S = 15.0
# json.dumps leaves these raw with ensure_ascii=False; line readers that split like str.splitlines
# (httpx's iter_lines among them) would cut an event in two on them.
_EOL = re.compile(r"\r\n|\r|\n")
_LINE_BREAKING = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def format_event(event: str, data: Any, event_id: int | str | None = None) -> bytes:
    """One SSE event: `id:` (when given), `event:`, one `data:` line of compact JSON, blank line."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    if "\x85" in payload or "\u2028" in payload or "\u2029" in payload:
        payload = payload.translate(_LINE_BREAKING)
    head = f"id: {event_id}\nevent: {event}\n" if event_id is not None else f"event: {event}\n"
    return f"{head}data: {payload}\n\n".encode()


class LineSplitter:
    """Cuts a decoded SSE stream into lines at CR, LF or CRLF only (the SSE grammar), whatever the
    chunk boundaries — unlike str.splitlines, which also breaks on U+2028 and friends."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, text: str) -> list[str]:
        data = self._buffer + text
        tail = ""
        if data.endswith("\r"):  # a LF may open the next chunk: CRLF is one line end
            data, tail = data[:-1], "\r"
        lines = _EOL.split(data)
        self._buffer = lines.pop() + tail
        return lines

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer.removesuffix("\r"), ""
        return [rest] if rest else []


def split_lines(chunks: Iterable[str]) -> Iterator[str]:
    splitter = LineSplitter()
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.flush()


@dataclass(slots=True)
class Event:
    event: str
    data: Any
    id: str | None = None


@dataclass(slots=True)
class Comment:
    text: str


class EventParser:
    """Line-by-line SSE parsing: `feed(line)` answers the event or comment that line completes."""

    def __init__(self) -> None:
        self._event = "message"
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, raw: str) -> Event | Comment | None:
        line = raw.rstrip("\r")
        if line == "":
            out = self._take()
            self._event, self._data, self._id = "message", [], None
            return out
        if line.startswith(":"):
            return Comment(line[1:].strip())
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        return None

    def close(self) -> Event | None:
        """What an unterminated last event held (its data kept as text)."""
        if not self._data:
            return None
        return Event(self._event, "\n".join(self._data), self._id)

    def _take(self) -> Event | None:
        if not self._data:
            return None
        text = "\n".join(self._data)
        try:
            payload: Any = json.loads(text)
        except ValueError:
            payload = text
        return Event(self._event, payload, self._id)


def parse(lines: Iterable[str]) -> Iterator[Event | Comment]:
    """Events (JSON `data` decoded; text when it is not JSON) and comments from SSE lines."""
    parser = EventParser()
    for line in lines:
        item = parser.feed(line)
        if item is not None:
            yield item
    last = parser.close()
    if last is not None:
        yield last


# ---- problems -----------------------------------------------------------------------------------------

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE = "about:blank"


def problem(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """An RFC 9457 problem object, as the bridge and the platform's API both answer errors."""
    return {"type": PROBLEM_TYPE, "title": title, "status": status, "detail": detail, **extra}


def problem_bytes(status: int, title: str, detail: str, **extra: Any) -> bytes:
    return json.dumps(problem(status, title, detail, **extra)).encode()


def problem_detail(body: Any, default: str = "") -> str:
    """The `detail` (else `title`) of a problem body the bridge sent, or `default`."""
    if isinstance(body, Mapping):
        return str(body.get("detail") or body.get("title") or default)
    return default


# ---- files --------------------------------------------------------------------------------------------

# A workspace file's metadata, the same in the listing, in GET's headers and in PUT's answer.
FILE_FIELDS = ("path", "size", "sha256", "modified_at", "editable", "origin")
ORIGINS = ("bundle", "edited", "user", "skill")


def etag(sha256_hex: str) -> str:
    return f'"{sha256_hex}"'


def sha256_of_etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


def file_headers(meta: Mapping[str, Any]) -> dict[str, str]:
    """GET /v1/files/{path}: the file's metadata as response headers beside its bytes."""
    return {ETAG: etag(str(meta["sha256"])), FILE_SIZE: str(meta["size"]),
            FILE_MODIFIED_AT: str(meta["modified_at"]), FILE_ORIGIN: str(meta["origin"]),
            FILE_EDITABLE: "true" if meta["editable"] else "false"}


def file_meta_from_headers(path: str, headers: Mapping[str, str]) -> dict[str, Any]:
    """The inverse of file_headers (header names matched case-insensitively); absent fields are None."""
    lower = {k.lower(): v for k, v in headers.items()}
    size = lower.get(FILE_SIZE)
    editable = lower.get(FILE_EDITABLE)
    return {"path": path, "size": int(size) if size and size.isdigit() else None,
            "sha256": sha256_of_etag(lower.get(ETAG.lower())), "modified_at": lower.get(FILE_MODIFIED_AT),
            "editable": None if editable is None else editable == "true", "origin": lower.get(FILE_ORIGIN)}

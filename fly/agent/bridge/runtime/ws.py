"""A minimal WebSocket client (RFC 6455) over asyncio streams, for OpenClaw's loopback gateway.

The bridge ships inside the machine image with only starlette, uvicorn and cryptography, and the one
peer it talks to is OpenClaw on 127.0.0.1, so a small client covering what that peer uses (text
frames, fragmentation, ping/pong, close; no extensions, no TLS) keeps the image lean.

    WebSocketError
    └── ConnectionClosed   the peer closed, or the socket broke
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
from urllib.parse import urlsplit

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE_BYTES = 64 << 20  # OpenClaw advertises maxPayload 25 MiB

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(Exception):
    pass


class ConnectionClosed(WebSocketError):
    def __init__(self, code: int | None = None, reason: str = "") -> None:
        super().__init__(f"websocket closed ({code}) {reason}".strip())
        self.code = code
        self.reason = reason


class WebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._send_lock = asyncio.Lock()
        self.closed = False

    @classmethod
    async def connect(cls, url: str, *, timeout: float = 10.0, headers: dict[str, str] | None = None) -> WebSocket:
        parts = urlsplit(url)
        if parts.scheme != "ws":
            raise WebSocketError(f"only ws:// is supported, got {parts.scheme!r}")
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            writer.close()
            raise WebSocketError("bad handshake response") from exc
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in f"{status_line} ":
            writer.close()
            raise WebSocketError(f"handshake refused: {status_line}")
        got = {}
        for line in header_lines:
            if ":" in line:
                k, v = line.split(":", 1)
                got[k.strip().lower()] = v.strip()
        expected = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()  # noqa: S324 (RFC 6455)
        if got.get("sec-websocket-accept") != expected:
            writer.close()
            raise WebSocketError("handshake: bad Sec-WebSocket-Accept")
        return cls(reader, writer)

    async def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytearray([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 1 << 16:
            header.append(0x80 | 126)
            header += struct.pack("!H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack("!Q", n)
        mask = os.urandom(4)
        header += mask
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else _mask_fast(payload, mask)
        async with self._send_lock:
            if self.closed:
                raise ConnectionClosed(None, "already closed")
            try:
                self._writer.write(bytes(header) + masked)
                await self._writer.drain()
            except (ConnectionError, RuntimeError) as exc:
                self.closed = True
                raise ConnectionClosed(None, str(exc)) from exc

    async def send_text(self, text: str) -> None:
        await self._send_frame(OP_TEXT, text.encode())

    async def _read_frame(self) -> tuple[bool, int, bytes]:
        try:
            b1, b2 = await self._reader.readexactly(2)
            n = b2 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self._reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self._reader.readexactly(8))
            if n > MAX_MESSAGE_BYTES:
                raise WebSocketError("frame too large")
            mask = await self._reader.readexactly(4) if b2 & 0x80 else None
            payload = await self._reader.readexactly(n)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self.closed = True
            raise ConnectionClosed(None, "connection lost") from exc
        if mask:
            payload = _mask_fast(payload, mask)
        return bool(b1 & 0x80), b1 & 0x0F, payload

    async def recv(self) -> str:
        """The next text message (binary messages are decoded as UTF-8 too)."""
        parts: list[bytes] = []
        size = 0
        while True:
            fin, opcode, payload = await self._read_frame()
            if opcode == OP_PING:
                await self._send_frame(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                reason = payload[2:].decode("utf-8", "replace")
                if not self.closed:
                    try:
                        await self._send_frame(OP_CLOSE, payload[:2])
                    except ConnectionClosed:
                        pass
                await self._shutdown()
                raise ConnectionClosed(code, reason)
            if opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                parts.append(payload)
                size += len(payload)
                if size > MAX_MESSAGE_BYTES:
                    raise WebSocketError("message too large")
                if fin:
                    return b"".join(parts).decode("utf-8", "replace")
                continue
            raise WebSocketError(f"unexpected opcode {opcode}")

    async def close(self, code: int = 1000) -> None:
        if not self.closed:
            try:
                await asyncio.wait_for(self._send_frame(OP_CLOSE, struct.pack("!H", code)), 2)
            except (ConnectionClosed, TimeoutError):
                pass
        await self._shutdown()

    async def _shutdown(self) -> None:
        self.closed = True
        try:
            self._writer.close()
            await asyncio.wait_for(self._writer.wait_closed(), 2)
        except (ConnectionError, TimeoutError, RuntimeError):
            pass


def _mask_fast(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")

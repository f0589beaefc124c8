"""A starlette app served by uvicorn on a background thread, on loopback only: what the chat-platform
fakes (telegram, slack, whatsapp, discord) run on.

    server = LoopbackServer(app, name="telegram-fake").start()   # a free port unless one is given
    server.url  → http://127.0.0.1:<port>
    server.stop()
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Self

import uvicorn

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class LoopbackServer:
    def __init__(self, app: Any, *, name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in LOOPBACK:  # fakes accept what their tests send: never reachable from elsewhere
            raise ValueError(f"{name} binds to loopback only, not {host!r}")
        self.app = app
        self.name = name
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> LoopbackServer:
        family = socket.AF_INET6 if self.host == "::1" else socket.AF_INET
        # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP (else ~40 ms stalls).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False,
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name=f"{self.name}-{self.port}")
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class LoopbackFake:
    """What every chat-platform fake is: its state, served by a `LoopbackServer` (set by the subclass)."""

    server: LoopbackServer

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

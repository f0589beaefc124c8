"""The workload of emulated agent machines in lifecycle tests: the bridge's contract, minus the agent.

Standard library only (it starts in tens of milliseconds). Like the bridge (ARCHITECTURE §5a):
`GET /health` needs no token; `GET /ready` and everything else need `Authorization: Bearer
$GATEWAY_TOKEN`. Tests steer it through files in its volume ($BRIDGE_DATA_DIR, which the emulator
maps to the volume's directory):

    sick        /health answers 500 (the health check's failure path)
    not-ready   /ready answers 503
"""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path(os.environ.get("BRIDGE_DATA_DIR", "/data"))
TOKEN = os.environ.get("GATEWAY_TOKEN", "")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _json(self, status: int, data: object) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        if path == "/health":
            self._json(500, {"ok": False}) if (DATA / "sick").exists() else self._json(200, {"ok": True})
            return
        if not TOKEN or self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._json(401, {"title": "Unauthorized"})
            return
        if path == "/ready":
            ready = not (DATA / "not-ready").exists()
            self._json(200 if ready else 503, {"ready": ready})
            return
        self._json(200, {"machine_id": os.environ.get("FLY_MACHINE_ID"), "path": path,
                         "data_dir": str(DATA)})


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8080"))), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

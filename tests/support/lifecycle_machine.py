"""The workload of emulated agent machines in lifecycle tests: the bridge's contract, minus the agent.

Standard library only (it starts in tens of milliseconds). Like the bridge (ARCHITECTURE §5a):
`GET /health` needs no token; `GET /ready` and everything else need `Authorization: Bearer
$GATEWAY_TOKEN`. Tests steer it through files in its volume ($BRIDGE_DATA_DIR, which the emulator
maps to the volume's directory):

    sick            /health answers 500 (the health check's failure path)
    not-ready       /ready answers 503
    bundle-fails    PUT /v1/bundle answers 503 (the push is retried)
    bundle-refused  PUT /v1/bundle answers 400 (the push fails for good)

`PUT /v1/bundle {version, files: {path: base64}, signatures}` records the version and each file's
sha256 in `<data>/.bundle.json` (`GET /v1/bundle` answers it: `{version, updated_at, files}`) and
writes the files under `<data>/bundle/`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import sys
import time
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
        if path == "/v1/bundle":
            manifest = DATA / ".bundle.json"
            self._json(200, json.loads(manifest.read_text()) if manifest.exists()
                       else {"version": None, "updated_at": None, "files": {}})
            return
        self._json(200, {"machine_id": os.environ.get("FLY_MACHINE_ID"), "path": path,
                         "data_dir": str(DATA)})

    def do_PUT(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not TOKEN or self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._json(401, {"title": "Unauthorized"})
            return
        if self.path.split("?")[0] != "/v1/bundle":
            self._json(404, {"title": "Not Found"})
            return
        if (DATA / "bundle-fails").exists():
            self._json(503, {"title": "Unavailable", "detail": "bundle-fails"})
            return
        try:
            data = json.loads(body)
            files = {p: base64.b64decode(v, validate=True) for p, v in data["files"].items()}
            assert isinstance(data["version"], str) and data["version"]
        except Exception:  # noqa: BLE001
            self._json(400, {"title": "Invalid bundle", "detail": "bad body"})
            return
        if (DATA / "bundle-refused").exists():
            self._json(400, {"title": "Invalid bundle", "detail": "bundle-refused"})
            return
        for rel, content in files.items():
            target = DATA / "bundle" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        manifest = {"version": data["version"], "updated_at": time.time(),
                    "files": {p: hashlib.sha256(c).hexdigest() for p, c in files.items()},
                    "signatures": sorted(data.get("signatures") or {})}
        (DATA / ".bundle.json").write_text(json.dumps(manifest))
        self._json(200, {"version": data["version"], "files": {"written": sorted(files), "unchanged": [], "kept": [],
                                                               "removed": []},
                         "skills": {"installed": [], "refused": []}})


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

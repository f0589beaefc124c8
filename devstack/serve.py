"""`python -m devstack.serve --port N`: only the API + functions (as vercel.json routes them), for
benchmarks that need the API in a process of its own. `openagents dev` is the whole stack."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from devstack.server import make_api_server

# A file the chat route appends each turn's first-token timestamps to (`bench stream`'s breakdown).
CHAT_TRACE_ENV = "OPENAGENTS_CHAT_TRACE"


def spawn(env: dict[str, str], port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """This module in a process of its own with `env`, once it answers `/api/health`: the process and
    its base URL (RuntimeError, the process killed, when it does not come up within 30 s)."""
    import httpx

    from devstack.postgres import free_port

    port = port or free_port()
    proc = subprocess.Popen([sys.executable, "-m", "devstack.serve", "--port", str(port)], env=env,
                            cwd=Path(__file__).resolve().parents[1])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/api/health", timeout=1, trust_env=False).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the API process did not come up")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if trace := os.environ.get(CHAT_TRACE_ENV):
        from shared.chat import timing

        timing.install(timing.file_sink(trace))
    make_api_server(args.port).serve_forever()


if __name__ == "__main__":
    main()

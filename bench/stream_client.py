"""`bench stream`'s load generator, in a process of its own: `python -m bench.stream_client` reads one
job (JSON on stdin) and prints one JSON line per stream it ran.

Why a process: the Fly emulator, whose edge every proxied stream crosses, runs in the benchmark's
process. A client there shares that interpreter's lock with the edge, so the proxied path (and only
it) would wait on its own load generator; on Fly the edge is somebody else's machine.

Job: {"base_url", "path": "direct"|"proxied", "n", "concurrency", "direct": {"url", "token"},
"headers", "instance"}. Each stream: its `perf_counter` marks (one clock for every process on the
machine), its token count and, on the proxied path, the turn id from its `session` event.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from shared.streaming import sse


@dataclass(slots=True)
class Streamed:
    """One stream as the client saw it (perf_counter seconds; one clock for every local process)."""

    sent: float
    first: float
    last: float
    tokens: int
    turn_id: str | None  # from the `session` event (proxied path only)

    @property
    def ttft(self) -> float:
        return self.first - self.sent


def consume(client: httpx.Client, method: str, url: str, **kw: Any) -> Streamed:
    t0 = time.perf_counter()
    first = last = None
    n = 0
    turn_id = None
    with client.stream(method, url, timeout=120, **kw) as resp:
        resp.raise_for_status()
        for ev in sse.parse(resp.iter_lines()):
            if isinstance(ev, sse.Event) and ev.event == "token":
                now = time.perf_counter()
                first = first or now
                last = now
                n += 1
            elif isinstance(ev, sse.Event) and ev.event == "session" and isinstance(ev.data, dict):
                turn_id = str(ev.data.get("turn_id"))
            elif isinstance(ev, sse.Event) and ev.event == "error":
                raise AssertionError(f"the stream ended in an error: {ev.data}")
    assert first is not None and last is not None, "no tokens"
    return Streamed(t0, first, last, n, turn_id)


def run(job: dict[str, Any]) -> list[Streamed]:
    concurrency = int(job["concurrency"])
    limits = httpx.Limits(max_connections=concurrency + 10, max_keepalive_connections=concurrency + 10)
    results: list[Streamed] = []
    lock = threading.Lock()
    direct = job["direct"]
    with httpx.Client(base_url=job["base_url"], limits=limits, trust_env=False) as client:
        # This process's first request pays for httpx's own first use; neither path should.
        client.get("/api/health", timeout=30)
        client.get(direct["url"].removesuffix("/v1/turns") + "/health", timeout=30)

        def one(i: int) -> None:
            if job["path"] == "direct":
                r = consume(client, "POST", direct["url"],
                            json={"turn_id": uuid.uuid4().hex, "session_key": f"bench:{i}", "message": "go",
                                  "channel": "web"},
                            headers={"Authorization": f"Bearer {direct['token']}"})
            else:
                r = consume(client, "POST", "/api/chat/stream", headers=job["headers"],
                            json={"instance_id": job["instance"], "message": "go",
                                  "client_message_id": uuid.uuid4().hex})
            with lock:
                results.append(r)

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(int(job["n"]))))
    return results


def main() -> None:
    for r in run(json.loads(sys.stdin.read())):
        print(json.dumps(asdict(r)))


if __name__ == "__main__":
    main()

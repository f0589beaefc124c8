"""Reaching an instance's bridge the way chat does: through Fly's proxy with `fly-force-instance-id`.

`FLY_PROXY_BASE` says where the proxy is (see `config.py`). The proxy starts a stopped or suspended
target, so callers that must not wake a machine (the health check) probe only machines Fly reports
`started`.

- readiness: `GET /ready` with the gateway token → 200 once the agent runtime is up;
- liveness (health check): `GET /health` → 200 while the bridge runs. It needs no token (Fly's own
  machine check calls it bare), so a sweep of thousands of machines reads no secrets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from shared.lifecycle.config import LifecycleConfig


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    status: int | None
    detail: str


def request_headers(machine_id: str, token: str | None) -> dict[str, str]:
    headers = {"fly-force-instance-id": machine_id}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def probe(client: httpx.Client, cfg: LifecycleConfig, app: str, machine_id: str, path: str,
          token: str | None = None) -> ProbeResult:
    try:
        r = client.get(cfg.proxy_url(app) + path, headers=request_headers(machine_id, token),
                       timeout=cfg.probe_timeout_s)
    except httpx.HTTPError as e:
        return ProbeResult(False, None, f"{type(e).__name__}")
    return ProbeResult(r.status_code == 200, r.status_code, r.reason_phrase or "")


def wait_ready(cfg: LifecycleConfig, app: str, machine_id: str, token: str, deadline: float) -> ProbeResult:
    """Poll `/ready` until it answers 200 or `deadline` (monotonic) passes; the last result."""
    delay = 0.1
    last = ProbeResult(False, None, "not probed")
    with httpx.Client(trust_env=False) as client:
        while True:
            last = probe(client, cfg, app, machine_id, "/ready", token)
            if last.ok or time.monotonic() + delay > deadline:
                return last
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

"""Readiness of an instance's bridge, as the lifecycle waits for it: `GET /ready` with the gateway
token through Fly's proxy → 200 once the agent runtime is up. The call itself (URL, headers, timeout)
is the bridge client's (`shared.bridge.client`); the liveness probe the health check sends is there too.
"""

from __future__ import annotations

from shared.bridge.client import ProbeResult, bridge_client
from shared.bridge.target import MachineTarget
from shared.lifecycle.config import LifecycleConfig


def wait_ready(cfg: LifecycleConfig, app: str, machine_id: str, token: str, deadline: float) -> ProbeResult:
    """Poll `/ready` until it answers 200 or `deadline` (monotonic) passes; the last result. (`cfg` is
    kept for callers; the client reads the same settings.)"""
    return bridge_client().wait_ready(MachineTarget("", app, machine_id, token), deadline)


__all__ = ["ProbeResult", "wait_ready"]

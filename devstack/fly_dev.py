"""The Fly side of the local stack: the Machines emulator running agent machines as local
processes, and the SSE gateway deployed on it as its own app (as on Fly)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from devstack.machine_image import SSE_GATEWAY_IMAGE

SSE_GATEWAY_APP = "openagents-sse-gateway"


def start_fly(*, data_dir: Path, token: str, runtime: str = "offline", openclaw: Any = None,
              mode: str = "process", machine_env: dict[str, str] | None = None, persistent: bool = False,
              **emulator_kwargs: Any) -> tuple[Any, dict[str, str]]:
    """Starts the emulator; returns it and the settings that point the platform at it.

    `persistent` keeps apps, machines and volumes in `data_dir` across restarts (`make dev`);
    tests and benchmarks leave it off and get a world of their own each time."""
    from devstack.emulators.fly import FlyEmulator
    from devstack.openclaw_runtime import machine_host_env

    env = machine_host_env(runtime, openclaw)
    env.update(machine_env or {})
    emu = FlyEmulator(mode=mode, machine_command=[sys.executable, "-m", "devstack.machine_image"],  # type: ignore[arg-type]
                      token=token, data_dir=data_dir, machine_env=env, state_dir=data_dir if persistent else None,
                      **emulator_kwargs)
    emu.start()
    settings = {
        "FLY_API_BASE": emu.url,
        "FLY_API_TOKEN": token,
        "FLY_ORG": "personal",
        # Through the app's own entry, as `https://{app}.fly.dev` on Fly: the proxy routes
        # `fly-force-instance-id` only within the app a request entered.
        "FLY_PROXY_BASE": f"{emu.proxy_url}/_app/{{app}}",
        "SSE_GATEWAY_URL": f"{emu.proxy_url}/_app/{SSE_GATEWAY_APP}",
    }
    return emu, settings


def ensure_sse_gateway(client: Any, public_key: str, *, region: str = "iad") -> str:
    """Deploys the SSE gateway app with one machine (idempotent); returns the machine id."""
    client.create_app(SSE_GATEWAY_APP, exist_ok=True)
    existing = client.list_machines(SSE_GATEWAY_APP)
    live = [m for m in existing if m.state not in ("destroyed", "destroying")]
    if live:
        return live[0].id
    config = {
        "image": SSE_GATEWAY_IMAGE,
        "env": {"STREAM_TOKEN_PUBLIC_KEY": public_key},
        "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
        "services": [{"protocol": "tcp", "internal_port": 8080, "autostart": True, "autostop": "off",
                      "ports": [{"port": 443, "handlers": ["tls", "http"]}]}],
        "restart": {"policy": "always"},
    }
    machine = client.create_machine(SSE_GATEWAY_APP, "sse-gateway-1", region, config)
    client.wait(SSE_GATEWAY_APP, machine.id, "started", timeout_s=30)
    return machine.id

"""The machine config of an agent instance (ARCHITECTURE §4).

Choices not fixed by the design, and why:
- `PORT` is set to the bridge port unless the caller sets it: the bridge listens on `$PORT`, which is
  the service's `internal_port` on Fly and a free local port under the emulator.
- autostop is "suspend" only while the machine is suspend-eligible (≤ 2 GB, no swap, no schedule —
  CONTRACTS A.4); above that it is "stop", which is what Fly would fall back to anyway.
- The `/health` check is a top-level (named) check so that its status shows in `machine.checks`,
  which the health-check job reads; it does not gate the proxy, so a slow-booting agent can still
  be woken by traffic.
- Concurrency counts requests (an SSE stream is one long request), with room for several chats,
  relays and health probes at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.fly.models import (
    MachineCheck,
    MachineConfig,
    MachineGuest,
    MachineMount,
    MachinePort,
    MachineRestart,
    MachineService,
    MachineServiceConcurrency,
    StopConfig,
)

INSTANCE_METADATA_KEY = "openagents_instance"
SUSPEND_MAX_MEMORY_MB = 2048
DATA_MOUNT_PATH = "/data"


def build_agent_machine_config(
    image: str,
    env: Mapping[str, str],
    volume_id: str,
    memory_mb: int = 2048,
    bridge_port: int = 8080,
    *,
    metadata: Mapping[str, str],
    cpus: int = 1,
    cpu_kind: str = "shared",
    health_path: str = "/health",
    restart_max_retries: int = 3,
    stop_timeout: str = "10s",
) -> MachineConfig:
    """Config for one agent machine: bridge on `bridge_port`, volume at /data, autostop/autostart.

    `metadata` must carry `openagents_instance` (the instance id): reconcile finds orphans by it, and
    an ambiguous create is resolved by looking it up.
    """
    if not metadata.get(INSTANCE_METADATA_KEY):
        raise ValueError(f"metadata must include {INSTANCE_METADATA_KEY!r}")
    if memory_mb < 256 or memory_mb % 256:
        raise ValueError("memory_mb must be a multiple of 256 and at least 256")
    suspendable = memory_mb <= SUSPEND_MAX_MEMORY_MB
    machine_env = {"PORT": str(bridge_port), **dict(env)}
    return MachineConfig(
        image=image,
        guest=MachineGuest(cpu_kind=cpu_kind, cpus=cpus, memory_mb=memory_mb),
        env=machine_env,
        mounts=[MachineMount(volume=volume_id, path=DATA_MOUNT_PATH)],
        services=[
            MachineService(
                protocol="tcp",
                internal_port=bridge_port,
                autostop="suspend" if suspendable else "stop",
                autostart=True,
                min_machines_running=0,
                ports=[
                    MachinePort(port=443, handlers=["tls", "http"]),
                    MachinePort(port=80, handlers=["http"], force_https=True),
                ],
                concurrency=MachineServiceConcurrency(type="requests", soft_limit=50, hard_limit=100),
            )
        ],
        checks={
            "bridge": MachineCheck(
                type="http",
                port=bridge_port,
                method="GET",
                path=health_path,
                protocol="http",
                interval="15s",
                timeout="2s",
                grace_period="30s",
            )
        },
        restart=MachineRestart(policy="on-failure", max_retries=restart_max_retries),
        stop_config=StopConfig(signal="SIGTERM", timeout=stop_timeout),
        metadata=dict(metadata),
        auto_destroy=False,
        # No `init.swap_size_mb` and no `schedule`: either would make the machine ineligible for suspend.
    )

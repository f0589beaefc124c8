"""Typed views of the Machines API objects (field names as in `fly-machines-openapi.json`).

Every model keeps fields it does not know (`extra="allow"`): Fly adds fields without notice, and a
config read from Fly and sent back in an update must not lose them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Autostop = Literal["off", "stop", "suspend"]


class FlyModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_api(self) -> dict[str, Any]:
        """JSON body for the API: unset/None fields are left out so Fly applies its defaults."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


# --- machine config -----------------------------------------------------------------------------


class MachineGuest(FlyModel):
    cpu_kind: str | None = None  # "shared" | "performance"
    cpus: int | None = None
    memory_mb: int | None = None
    max_memory_mb: int | None = None
    gpus: int | None = None
    gpu_kind: str | None = None
    kernel_args: list[str] | None = None


class MachineMount(FlyModel):
    volume: str | None = None
    path: str | None = None
    name: str | None = None
    size_gb: int | None = None
    encrypted: bool | None = None
    extend_threshold_percent: int | None = None
    add_size_gb: int | None = None
    size_gb_limit: int | None = None


class MachinePort(FlyModel):
    port: int | None = None
    start_port: int | None = None
    end_port: int | None = None
    handlers: list[str] | None = None
    force_https: bool | None = None
    http_options: dict[str, Any] | None = None
    tls_options: dict[str, Any] | None = None
    proxy_proto_options: dict[str, Any] | None = None


class MachineServiceConcurrency(FlyModel):
    type: str | None = None  # "connections" | "requests"
    soft_limit: int | None = None
    hard_limit: int | None = None


class MachineServiceCheck(FlyModel):
    type: str | None = None  # "tcp" | "http"
    port: int | None = None
    interval: str | None = None
    timeout: str | None = None
    grace_period: str | None = None
    method: str | None = None
    path: str | None = None
    protocol: str | None = None
    headers: list[dict[str, Any]] | None = None
    tls_server_name: str | None = None
    tls_skip_verify: bool | None = None


class MachineCheck(MachineServiceCheck):
    kind: Literal["informational", "readiness"] | None = None


class MachineService(FlyModel):
    protocol: str | None = None  # "tcp" | "udp"
    internal_port: int | None = None
    ports: list[MachinePort] | None = None
    autostop: Autostop | None = None
    autostart: bool | None = None
    min_machines_running: int | None = None
    concurrency: MachineServiceConcurrency | None = None
    checks: list[MachineServiceCheck] | None = None
    force_instance_key: str | None = None
    force_instance_description: str | None = None

    @field_validator("autostop", mode="before")
    @classmethod
    def _autostop_from_bool(cls, v: Any) -> Any:
        # The API still *answers* with booleans for "off"/"stop" (old format).
        if v is True:
            return "stop"
        if v is False:
            return "off"
        return v


class MachineRestart(FlyModel):
    policy: Literal["no", "always", "on-failure", "spot-price"] | None = None
    max_retries: int | None = None
    gpu_bid_price: float | None = None


class MachineInit(FlyModel):
    exec: list[str] | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    tty: bool | None = None
    swap_size_mb: int | None = None
    kernel_args: list[str] | None = None


class StopConfig(FlyModel):
    signal: str | None = None
    timeout: str | None = None  # Go duration, e.g. "10s"


class MachineConfig(FlyModel):
    image: str | None = None
    guest: MachineGuest | None = None
    env: dict[str, str] | None = None
    mounts: list[MachineMount] | None = None
    services: list[MachineService] | None = None
    checks: dict[str, MachineCheck] | None = None
    metadata: dict[str, str] | None = None
    restart: MachineRestart | None = None
    init: MachineInit | None = None
    stop_config: StopConfig | None = None
    auto_destroy: bool | None = None
    schedule: str | None = None
    files: list[dict[str, Any]] | None = None


# --- resources ----------------------------------------------------------------------------------


class AppOrganization(FlyModel):
    name: str | None = None
    slug: str | None = None
    internal_numeric_id: int | None = None


class App(FlyModel):
    id: str | None = None
    name: str
    network: str | None = None
    status: str | None = None
    organization: AppOrganization | None = None
    machine_count: int | None = None
    volume_count: int | None = None
    internal_numeric_id: int | None = None


class ImageRef(FlyModel):
    registry: str | None = None
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None
    labels: dict[str, str] | None = None


class MachineEvent(FlyModel):
    id: str | None = None
    type: str | None = None
    status: str | None = None
    source: str | None = None
    timestamp: int | None = None
    request: dict[str, Any] | None = None


class CheckStatus(FlyModel):
    name: str | None = None
    status: str | None = None
    output: str | None = None
    updated_at: str | None = None


class Machine(FlyModel):
    id: str
    name: str | None = None
    state: str | None = None
    region: str | None = None
    instance_id: str | None = None
    private_ip: str | None = None
    config: MachineConfig | None = None
    image_ref: ImageRef | None = None
    created_at: str | None = None
    updated_at: str | None = None
    events: list[MachineEvent] = Field(default_factory=list)
    checks: list[CheckStatus] = Field(default_factory=list)
    host_status: str | None = None
    nonce: str | None = None  # only on create with lease_ttl

    @property
    def version(self) -> str | None:
        """The machine version (Fly calls it `instance_id` here and `version` in wait)."""
        return self.instance_id

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.config.metadata or {}) if self.config else {}


class OrgMachine(FlyModel):
    id: str
    app_name: str | None = None
    name: str | None = None
    state: str | None = None
    region: str | None = None
    instance_id: str | None = None
    version: str | None = None
    private_ip: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    config: dict[str, Any] | None = None  # MachineOverviewConfig: guest, image, metadata


class Volume(FlyModel):
    id: str
    name: str | None = None
    region: str | None = None
    size_gb: int | None = None
    state: str | None = None
    encrypted: bool | None = None
    fstype: str | None = None
    zone: str | None = None
    attached_machine_id: str | None = None
    attached_alloc_id: str | None = None
    created_at: str | None = None
    snapshot_retention: int | None = None
    auto_backup_enabled: bool | None = None
    host_status: str | None = None


class Snapshot(FlyModel):
    id: str | None = None
    created_at: str | None = None
    digest: str | None = None
    size: int | None = None
    status: str | None = None
    retention_days: int | None = None
    volume_size: int | None = None


class Lease(FlyModel):
    nonce: str | None = None
    expires_at: int | None = None  # unix seconds
    owner: str | None = None
    description: str | None = None
    version: str | None = None


class WaitResult(FlyModel):
    ok: bool | None = None
    state: str | None = None
    event_id: str | None = None
    version: str | None = None


class ErrorResponse(FlyModel):
    error: str | None = None
    status: str | None = None  # "unknown" | "insufficient_capacity" (fly-go also knows "name_taken")
    details: dict[str, Any] | None = None

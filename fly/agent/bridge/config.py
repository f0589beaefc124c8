"""The bridge's settings, from its environment (set by the machine config or the emulator).

    PORT                          listen port (default 8080)
    BRIDGE_HOST                   listen address (default 0.0.0.0 — Fly's proxy; the emulator uses 127.0.0.1)
    GATEWAY_TOKEN                 the instance's gateway token; every call but /health must carry it (required)
    OPENAGENTS_AGENT_RUNTIME      offline | openclaw (default offline)
    BRIDGE_DATA_DIR               the volume (default /data); OpenClaw's workspace is <data>/workspace
    SKILL_SIGNING_PUBLIC_KEYS     JSON {key_id: base64url raw Ed25519 key}; retired keys included
    BRIDGE_HEARTBEAT_S            SSE comment heartbeat interval (default 15)
    BRIDGE_TURN_RETENTION_S       how long a finished turn can be re-attached by its turn_id (default 600)
    BRIDGE_MAX_FILE_BYTES         PUT /v1/files limit (default 1 MiB)
    BRIDGE_MAX_BUNDLE_BYTES       PUT /v1/bundle body limit (default 32 MiB)
    OFFLINE_TOKEN_INTERVAL_MS     offline runtime: pause before each token (default 20)
    OFFLINE_TOKENS                offline runtime: tokens per answer (default 24)
    OPENCLAW_GATEWAY_URL          openclaw runtime: http://127.0.0.1:<port> (loopback only)
    OPENCLAW_GATEWAY_TOKEN        openclaw runtime: OpenClaw's token (else <data>/.openagents/openclaw-token)
    OPENCLAW_AGENT_ID             openclaw runtime: agent id (default main)
    LOG_LEVEL                     default INFO
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shared.bridge import protocol
from shared.skills.signatures import load_public_keys


class ConfigError(ValueError):
    pass


def _num(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _loopback_url(url: str) -> str:
    host = urlsplit(url).hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"OPENCLAW_GATEWAY_URL must be a loopback address, got {host!r}")
    return url.rstrip("/")


@dataclass
class BridgeConfig:
    gateway_token: str
    port: int = 8080
    host: str = "0.0.0.0"  # noqa: S104 (the machine's service port, behind Fly's proxy)
    runtime: str = "offline"
    data_dir: Path = Path("/data")
    public_keys: dict[str, Any] = field(default_factory=dict)
    heartbeat_s: float = protocol.HEARTBEAT_S
    turn_retention_s: float = 600.0
    max_file_bytes: int = 1 << 20
    max_bundle_bytes: int = 32 << 20
    offline_token_interval_ms: float = 20.0
    offline_tokens: int = 24
    openclaw_url: str = "http://127.0.0.1:18789"
    openclaw_token: str | None = None
    openclaw_agent_id: str = "main"
    log_level: str = "INFO"

    @property
    def workspace(self) -> Path:
        return self.data_dir / "workspace"

    @property
    def state_dir(self) -> Path:
        """The bridge's own bookkeeping, outside the workspace (not visible to the files API)."""
        return self.data_dir / ".openagents"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BridgeConfig:
        env = os.environ if env is None else env
        token = env.get("GATEWAY_TOKEN", "")
        if len(token) < 16:
            raise ConfigError("GATEWAY_TOKEN must be set (at least 16 characters)")
        runtime = env.get("OPENAGENTS_AGENT_RUNTIME") or "offline"
        if runtime not in ("offline", "openclaw"):
            raise ConfigError(f"OPENAGENTS_AGENT_RUNTIME must be offline or openclaw, got {runtime!r}")
        try:
            keys = load_public_keys(env.get("SKILL_SIGNING_PUBLIC_KEYS"))
        except ValueError as exc:
            raise ConfigError(f"SKILL_SIGNING_PUBLIC_KEYS: {exc}") from exc
        port = env.get("OPENCLAW_GATEWAY_PORT") or "18789"
        return cls(
            gateway_token=token,
            port=int(_num(env, "PORT", 8080)),
            host=env.get("BRIDGE_HOST") or "0.0.0.0",  # noqa: S104
            runtime=runtime,
            data_dir=Path(env.get("BRIDGE_DATA_DIR") or "/data"),
            public_keys=keys,
            heartbeat_s=_num(env, "BRIDGE_HEARTBEAT_S", protocol.HEARTBEAT_S),
            turn_retention_s=_num(env, "BRIDGE_TURN_RETENTION_S", 600),
            max_file_bytes=int(_num(env, "BRIDGE_MAX_FILE_BYTES", 1 << 20)),
            max_bundle_bytes=int(_num(env, "BRIDGE_MAX_BUNDLE_BYTES", 32 << 20)),
            offline_token_interval_ms=_num(env, "OFFLINE_TOKEN_INTERVAL_MS", 20),
            offline_tokens=int(_num(env, "OFFLINE_TOKENS", 24)),
            openclaw_url=_loopback_url(env.get("OPENCLAW_GATEWAY_URL") or f"http://127.0.0.1:{port}"),
            openclaw_token=env.get("OPENCLAW_GATEWAY_TOKEN") or None,
            openclaw_agent_id=env.get("OPENCLAW_AGENT_ID") or "main",
            log_level=env.get("LOG_LEVEL") or "INFO",
        )

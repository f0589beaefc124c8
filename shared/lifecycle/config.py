"""Lifecycle configuration, read from `shared.config` settings at the moment of use (tests and the
local stack repoint them), and the Fly client factory.

    FLY_API_BASE / FLY_API_TOKEN / FLY_ORG   the Machines API (api.machines.dev, or the local emulator)
    FLY_REGION + FLY_FALLBACK_REGIONS        where instances go; later ones only on capacity errors
    FLY_PROXY_BASE                           where probes enter Fly's proxy; `{app}` → the instance's app
                                             (default https://{app}.fly.dev; locally the emulator's proxy)
    AGENT_IMAGE, AGENT_VOLUME_GB             what a machine runs and its /data volume size
    LIFECYCLE_START_TIMEOUT_S / _READY_TIMEOUT_S / _RETRY_BASE_S, HEALTH_CONCURRENCY, HEALTH_PROBE_TIMEOUT_S
    WARM_POOL_SIZE                           suspended units kept for hires (warm_pool.py; 0 = off)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.fly import FlyClient


@dataclass(frozen=True)
class LifecycleConfig:
    region: str
    fallback_regions: tuple[str, ...]
    proxy_base: str
    image: str
    volume_gb: int
    runtime: str
    start_timeout_s: float
    ready_timeout_s: float
    retry_base_s: float
    health_concurrency: int
    probe_timeout_s: float
    signing_public_keys: str | None

    @property
    def regions(self) -> list[str]:
        """The primary region first, then the fallbacks, without repeats."""
        out: list[str] = []
        for r in (self.region, *self.fallback_regions):
            if r and r not in out:
                out.append(r)
        return out

    def proxy_url(self, app: str) -> str:
        return self.proxy_base.replace("{app}", app).rstrip("/")


def lifecycle_config(settings: Any | None = None) -> LifecycleConfig:
    if settings is None:
        from shared.config import get_settings

        settings = get_settings()
    return LifecycleConfig(
        region=settings.FLY_REGION,
        fallback_regions=tuple(r.strip() for r in settings.FLY_FALLBACK_REGIONS.split(",") if r.strip()),
        proxy_base=settings.FLY_PROXY_BASE,
        image=settings.AGENT_IMAGE,
        volume_gb=settings.AGENT_VOLUME_GB,
        runtime=settings.OPENAGENTS_AGENT_RUNTIME,
        start_timeout_s=settings.LIFECYCLE_START_TIMEOUT_S,
        ready_timeout_s=settings.LIFECYCLE_READY_TIMEOUT_S,
        retry_base_s=settings.LIFECYCLE_RETRY_BASE_S,
        health_concurrency=settings.HEALTH_CONCURRENCY,
        probe_timeout_s=settings.HEALTH_PROBE_TIMEOUT_S,
        signing_public_keys=settings.SKILL_SIGNING_PUBLIC_KEYS,
    )


def fly_client(**kwargs: Any) -> FlyClient:
    """A Machines API client from settings (one per job run; close it when done)."""
    from shared.fly import FlyClient

    return FlyClient.from_settings(**kwargs)

"""Settings from the environment (names are fixed by ARCHITECTURE §6).

In `dev` every secret has a generated local default kept in the data folder (`.data/local.env`);
an explicitly set variable always wins. `production` refuses to start without the secrets it needs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("OPENAGENTS_DATA_DIR", PROJECT_ROOT / ".data"))
LOCAL_ENV_FILE = DATA_DIR / "local.env"

# Secrets that get a generated default in dev (and are redacted from logs everywhere).
GENERATED_SECRETS = ("SUPABASE_JWT_SECRET", "CRON_SECRET", "FLY_API_TOKEN", "STRIPE_WEBHOOK_SECRET")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=(".env",), extra="ignore", case_sensitive=True)

    OPENAGENTS_ENV: Literal["dev", "test", "production"] = "dev"
    PORT: int = 8080
    DATABASE_URL: str | None = None
    DATABASE_DIRECT_URL: str | None = None
    DATABASE_POOL_MAX: int = 10
    SUPABASE_URL: str | None = None
    SUPABASE_ANON_KEY: SecretStr | None = None
    SUPABASE_SERVICE_ROLE_KEY: SecretStr | None = None
    SUPABASE_JWT_SECRET: SecretStr | None = None
    SUPABASE_JWKS_URL: str | None = None
    CRON_SECRET: SecretStr | None = None
    FLY_API_TOKEN: SecretStr | None = None
    FLY_API_BASE: str = "https://api.machines.dev"
    FLY_ORG: str = "personal"
    FLY_REGION: str = "iad"
    AGENT_IMAGE: str = "registry.fly.io/openagents-agent:latest"
    # Agent lifecycle (shared/lifecycle). FLY_PROXY_BASE is where machine traffic enters Fly's proxy
    # (readiness and health probes, with `fly-force-instance-id`): `{app}` is replaced by the
    # instance's app, so production's default is each app's public edge; locally it is the
    # emulator's proxy URL. FLY_FALLBACK_REGIONS are tried in order after FLY_REGION on a capacity error.
    FLY_PROXY_BASE: str = "https://{app}.fly.dev"
    FLY_FALLBACK_REGIONS: str = "ord,ewr,sjc"
    AGENT_VOLUME_GB: int = Field(default=1, ge=1)
    LIFECYCLE_START_TIMEOUT_S: float = Field(default=120, gt=0, description="machine → `started`")
    LIFECYCLE_READY_TIMEOUT_S: float = Field(default=180, gt=0, description="`started` → bridge /ready")
    LIFECYCLE_RETRY_BASE_S: float = Field(default=2, gt=0, description="job retry backoff base")
    HEALTH_CONCURRENCY: int = Field(default=64, ge=1, description="probes in flight during a sweep")
    HEALTH_PROBE_TIMEOUT_S: float = Field(default=5, gt=0)
    WARM_POOL_SIZE: int = Field(default=0, ge=0, le=1000,
                                description="pre-made suspended agent units kept ready for hires (0 = off)")
    WORKER_HEARTBEAT_S: float = Field(default=10, gt=0)
    WORKER_STALLED_AFTER_S: float = Field(default=30, gt=0, description="no heartbeat this long: jobs retried")
    OPENAGENTS_AGENT_RUNTIME: Literal["offline", "openclaw"] = "offline"
    SSE_GATEWAY_URL: str | None = None
    STREAM_TOKEN_PRIVATE_KEY: SecretStr | None = None  # API side: signs per-turn stream tokens
    STREAM_TOKEN_PUBLIC_KEY: str | None = None  # SSE gateway side: verifies them
    CHAT_RESUME_GRACE_S: float = 10.0  # how long a turn runs on after its browser left, awaiting a resume
    SKILL_SIGNING_KEY: SecretStr | None = None
    SKILL_SIGNING_PUBLIC_KEYS: str | None = None
    STRIPE_SECRET_KEY: SecretStr | None = None
    STRIPE_WEBHOOK_SECRET: SecretStr | None = None
    STRIPE_API_BASE: str | None = None
    TELEGRAM_BOT_TOKEN: SecretStr | None = None
    TELEGRAM_BOT_USERNAME: str | None = None
    TELEGRAM_WEBHOOK_SECRET: SecretStr | None = None
    TELEGRAM_API_BASE: str | None = None
    SLACK_SIGNING_SECRET: SecretStr | None = None
    SLACK_BOT_TOKEN: SecretStr | None = None
    SLACK_API_BASE: str | None = None
    WHATSAPP_APP_SECRET: SecretStr | None = None
    WHATSAPP_VERIFY_TOKEN: SecretStr | None = None
    WHATSAPP_ACCESS_TOKEN: SecretStr | None = None
    WHATSAPP_PHONE_NUMBER_ID: str | None = None
    WHATSAPP_API_BASE: str | None = None
    DISCORD_APPLICATION_ID: str | None = None
    DISCORD_PUBLIC_KEY: str | None = None
    DISCORD_BOT_TOKEN: SecretStr | None = None
    DISCORD_API_BASE: str | None = None
    ANTHROPIC_API_KEY: SecretStr | None = None
    OPENAI_API_KEY: SecretStr | None = None
    OPENAI_BASE_URL: str | None = None

    # Not fixed names; sensible knobs with defaults.
    # Billing: Stripe Price ids per plan/top-up (JSON, keys basic|pro|power|topup_600|topup_2000|
    # topup_6000|topup_18000), the Billing Meter's event name, a price-table override (JSON, see
    # shared/billing/pricing.py), and when the reaper closes a turn whose stream died.
    STRIPE_PRICES: str | None = None
    STRIPE_METER_EVENT_NAME: str = "openagents_credits"
    STRIPE_CONNECT_COUNTRY: str = "US"
    BILLING_PRICE_TABLE: str | None = None
    BILLING_REAP_AFTER_MINUTES: int = Field(default=15, ge=1)
    MAX_BODY_BYTES: int = Field(default=1 << 20, description="request body limit for JSON routes")
    PUBLIC_URL: str | None = None
    LOG_LEVEL: str = "INFO"

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.OPENAGENTS_ENV == "production":
            missing = [n for n in ("DATABASE_URL", "CRON_SECRET") if not getattr(self, n)]
            if not (self.SUPABASE_JWT_SECRET or self.SUPABASE_JWKS_URL):
                missing.append("SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL")
            if missing:
                raise ValueError(f"production settings missing: {', '.join(missing)}")
        return self

    @property
    def is_production(self) -> bool:
        return self.OPENAGENTS_ENV == "production"

    @property
    def jwt_issuer(self) -> str:
        base = self.SUPABASE_URL or self.public_url
        return base.rstrip("/") + "/auth/v1"

    @property
    def public_url(self) -> str:
        return self.PUBLIC_URL or f"http://127.0.0.1:{self.PORT}"

    def secret_values(self) -> list[str]:
        """Every configured secret's plain value, for the log redactor."""
        out = []
        for name in type(self).model_fields:
            v = getattr(self, name)
            if isinstance(v, SecretStr) and v.get_secret_value():
                out.append(v.get_secret_value())
        return out


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                values[k.strip()] = v.strip()
    return values


def ensure_local_secrets(path: Path = LOCAL_ENV_FILE) -> dict[str, str]:
    """Generate (once) and return dev defaults for secrets; never used in production."""
    values = read_env_file(path)
    changed = False
    for name in GENERATED_SECRETS:
        if name not in values:
            values[name] = secrets.token_urlsafe(32)
            changed = True
    if "STREAM_TOKEN_PRIVATE_KEY" not in values:
        from shared.streaming.tokens import new_keypair

        values["STREAM_TOKEN_PRIVATE_KEY"], values["STREAM_TOKEN_PUBLIC_KEY"] = new_keypair()
        changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in sorted(values.items())))
        path.chmod(0o600)
    return values


@functools.cache
def get_settings() -> Settings:
    env = os.environ.get("OPENAGENTS_ENV", "dev")
    defaults: dict[str, str] = {}
    if env == "dev":
        defaults = {k: v for k, v in read_env_file(LOCAL_ENV_FILE).items() if k not in os.environ}
    return Settings(**defaults)  # type: ignore[arg-type]


def reset_settings() -> None:
    get_settings.cache_clear()


@contextlib.contextmanager
def overridden(values: dict[str, str]) -> Iterator[None]:
    """Points settings at other values for a block (tests, benchmarks, the local stack's helpers):
    sets the environment variables, re-reads settings, and restores both afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    reset_settings()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reset_settings()

"""Settings from the environment (names are fixed by ARCHITECTURE §6).

In `dev` every secret has a generated local default kept in the data folder (`.data/local.env`);
an explicitly set variable always wins. `production` refuses to start without the secrets it needs.
"""

import contextlib
import functools
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("OPENAGENTS_DATA_DIR", PROJECT_ROOT / ".data"))
LOCAL_ENV_FILE = DATA_DIR / "local.env"


class _Environment(PydanticBaseSettingsSource):
    """The environment variables named like a field, as they are: what pydantic-settings' own source
    gives for these fields (all scalars: no JSON to decode, no aliases, no prefix, case-sensitive)
    without its per-field analysis, which costs ~10 ms of every cold start."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return os.environ.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        env = os.environ
        return {name: env[name] for name in self.settings_cls.model_fields if name in env}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=(".env",), extra="ignore", case_sensitive=True)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Same order as the default (arguments, environment, .env, secrets); a missing .env adds nothing.
        dotenv = (dotenv_settings,) if Path(".env").is_file() else ()
        return init_settings, _Environment(settings_cls), *dotenv, file_secret_settings

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
    # How long a serverless function may run: vercel.json's `maxDuration` for api/*.py, which is the
    # source of truth (tests/unit/test_function_limit.py checks the two agree). Streams end, and
    # chat turns are handed to a worker (`continue_turn`), CHAT_HANDOFF_MARGIN_S before it; the
    # margin exceeds the bridge's 15 s heartbeat, since a silent upstream is looked at only then.
    FUNCTION_MAX_DURATION_S: float = Field(default=60, gt=0)
    CHAT_HANDOFF_MARGIN_S: float = Field(default=20, ge=0)
    CHAT_HANDOFF_HOLD_S: float = Field(default=120, gt=0, le=3600,
                                       description="a handed-off turn runs this long on the bridge awaiting its worker")
    CHAT_STREAMS_PER_USER: int = Field(default=10, ge=1, description="concurrent chat/resume/follow streams per user")
    CHAT_STREAM_POLL_S: float = Field(default=2.0, gt=0, description="streams re-read rows this often without a wake-up")
    SKILL_SIGNING_KEY: SecretStr | None = None
    SKILL_SIGNING_PUBLIC_KEYS: str | None = None
    STRIPE_SECRET_KEY: SecretStr | None = None
    STRIPE_WEBHOOK_SECRET: SecretStr | None = None
    # The Connect endpoint's own signing secret (events of connected accounts); optional.
    STRIPE_CONNECT_WEBHOOK_SECRET: SecretStr | None = None
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
    # The approved message template a reply falls back on outside WhatsApp's 24-hour customer-service
    # window (unset: no reply there, logged).
    WHATSAPP_TEMPLATE_NAME: str | None = None
    WHATSAPP_TEMPLATE_LANGUAGE: str = "en_US"
    # How long a reply part in doubt waits for Meta's status webhook before it counts as never sent.
    WHATSAPP_DOUBT_WAIT_S: float = 120.0
    DISCORD_APPLICATION_ID: str | None = None
    DISCORD_PUBLIC_KEY: str | None = None
    DISCORD_BOT_TOKEN: SecretStr | None = None
    DISCORD_API_BASE: str | None = None
    # Dev only: the private half of DISCORD_PUBLIC_KEY, with which the local Discord fake signs
    # interactions (in production Discord holds it).
    DISCORD_DEV_PRIVATE_KEY: SecretStr | None = None
    METRICS_TOKEN: SecretStr | None = None  # `GET /api/metrics` takes `Authorization: Bearer $METRICS_TOKEN`
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
    # Credits a turn holds for its metered usage on top of the agent's price (the "+1" of the 402 rule).
    BILLING_HOLD_METERED_CREDITS: int = Field(default=1, ge=1, le=10000)
    MAX_BODY_BYTES: int = Field(default=1 << 20, description="request body limit for JSON routes")
    # Long-lived processes (workers, the Discord bot) serve /metrics on this port over Fly's private
    # network (shared/metrics.py serve); unset: no metrics listener.
    METRICS_PORT: int | None = Field(default=None, ge=1, le=65535)
    # Rate limits (shared/ratelimit.py): JSON `{"<limit name>": {"limit": n, "window_s": s}}` overriding
    # the defaults declared on the routes (`chat`, `hire`, `keys`, `dev-sign-in`, `llm-proxy`, …);
    # a limit of 0 switches one off.
    RATE_LIMITS: str | None = None
    # The LLM proxy (shared/llm). LLM_PROXY_URL is its root as agent machines reach it (machines get
    # `<it>/v1` as OPENAI_BASE_URL and `<it>` as ANTHROPIC_BASE_URL; default `<public URL>/llm`, and
    # in production nothing without PUBLIC_URL). Upstreams: OPENAI_BASE_URL (fixed name) and these,
    # defaulting to each provider's public API. LLM_CHECK_KEYS: a BYOK key is tried with one cheap
    # call before it is stored (default on in production only).
    LLM_PROXY_URL: str | None = None
    LLM_UPSTREAM_ANTHROPIC_BASE: str | None = None
    LLM_UPSTREAM_GOOGLE_BASE: str | None = None
    LLM_UPSTREAM_OPENROUTER_BASE: str | None = None
    LLM_CHECK_KEYS: bool | None = None
    LLM_UPSTREAM_TIMEOUT_S: float = Field(default=300, gt=0, description="longest silence from a provider")
    PUBLIC_URL: str | None = None
    # Version rollouts (shared/platform/rollout.py): the share of an agent's instances the first stage
    # updates (at least one instance), and how often the rollout job looks at the stage's updates.
    ROLLOUT_FIRST_STAGE_PERCENT: int = Field(default=10, ge=1, le=100)
    ROLLOUT_POLL_S: float = Field(default=10.0, gt=0, le=3600)
    LOG_LEVEL: str = "INFO"

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Self:
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


def _stream_keys() -> tuple[str, ...]:
    from shared.streaming.tokens import new_keypair

    return new_keypair()


def _skill_keys() -> tuple[str, ...]:
    from shared.skill_signing import new_signing_key, public_keys_setting

    key = new_signing_key()
    return key.to_setting(), public_keys_setting(key)


def _discord_keys() -> tuple[str, ...]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return raw.hex(), key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def _digits(n: int) -> str:
    return str(secrets.randbelow(9 * 10 ** (n - 1)) + 10 ** (n - 1))


def _token() -> str:
    return secrets.token_urlsafe(32)


# Every secret and credential the dev stack needs, each generated once into `.data/local.env`. A group
# of names is made together (a key pair's halves must match) and counts as set when any of its names
# is set explicitly. Values have the shapes the real services issue, so the local fakes can check them.
LOCAL_DEFAULTS: dict[tuple[str, ...], Callable[[], tuple[str, ...]]] = {
    ("SUPABASE_JWT_SECRET",): lambda: (_token(),),
    ("CRON_SECRET",): lambda: (_token(),),
    ("METRICS_TOKEN",): lambda: (_token(),),
    ("FLY_API_TOKEN",): lambda: (_token(),),
    ("STRIPE_WEBHOOK_SECRET",): lambda: ("whsec_" + secrets.token_hex(24),),
    ("STREAM_TOKEN_PRIVATE_KEY", "STREAM_TOKEN_PUBLIC_KEY"): _stream_keys,
    ("SKILL_SIGNING_KEY", "SKILL_SIGNING_PUBLIC_KEYS"): _skill_keys,
    ("TELEGRAM_BOT_TOKEN",): lambda: (f"{_digits(10)}:{secrets.token_urlsafe(26)}",),
    ("TELEGRAM_BOT_USERNAME",): lambda: ("openagents_dev_bot",),
    ("TELEGRAM_WEBHOOK_SECRET",): lambda: (_token(),),
    ("SLACK_SIGNING_SECRET",): lambda: (secrets.token_hex(16),),
    ("SLACK_BOT_TOKEN",): lambda: (f"xoxb-{_digits(12)}-{_digits(13)}-{secrets.token_urlsafe(18)}",),
    ("WHATSAPP_APP_SECRET",): lambda: (secrets.token_hex(16),),
    ("WHATSAPP_VERIFY_TOKEN",): lambda: (_token(),),
    ("WHATSAPP_ACCESS_TOKEN",): lambda: ("EAA" + secrets.token_urlsafe(48),),
    ("WHATSAPP_PHONE_NUMBER_ID",): lambda: (_digits(15),),
    ("DISCORD_APPLICATION_ID",): lambda: (_digits(18),),
    ("DISCORD_BOT_TOKEN",): lambda: (secrets.token_urlsafe(52),),
    ("DISCORD_DEV_PRIVATE_KEY", "DISCORD_PUBLIC_KEY"): _discord_keys,
}


def _write_env_file(path: Path, values: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{k}={v}\n" for k, v in sorted(values.items())))
    tmp.chmod(0o600)
    tmp.replace(path)  # a reader never sees half a file


def ensure_local_secrets(path: Path = LOCAL_ENV_FILE) -> dict[str, str]:
    """Generate (once) and return the dev defaults of `LOCAL_DEFAULTS`; never used in production.

    Values already in the file are kept, so a secret stays the same from one run to the next; other
    entries of the file (e.g. the local Postgres password) are left alone."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes starting at once must not make two sets
        values = read_env_file(path)
        missing = [names for names in LOCAL_DEFAULTS if not all(n in values for n in names)]
        for names in missing:
            values.update(zip(names, LOCAL_DEFAULTS[names](), strict=True))
        if missing:
            _write_env_file(path, values)
    return values


def explicit_names(environ: Mapping[str, str] | None = None, dotenv: Path = Path(".env")) -> set[str]:
    """Names set by the environment (even to "") or the `.env` file: these always win over local defaults."""
    return set(os.environ if environ is None else environ) | set(read_env_file(dotenv))


def local_defaults(environ: Mapping[str, str] | None = None, path: Path = LOCAL_ENV_FILE,
                   dotenv: Path = Path(".env")) -> dict[str, str]:
    """The dev defaults that apply: the generated ones minus every name set explicitly; a group of
    `LOCAL_DEFAULTS` that is set in part is left out whole, so an explicit key never meets a generated
    partner."""
    try:
        values = ensure_local_secrets(path)
    except OSError:  # a read-only tree (dev mode by mistake on a deployment): what is there, if anything
        values = read_env_file(path)
    explicit = explicit_names(environ, dotenv)
    for names in LOCAL_DEFAULTS:
        if explicit & set(names):
            explicit |= set(names)
    return {k: v for k, v in values.items() if k not in explicit}


@functools.cache
def get_settings() -> Settings:
    env = os.environ.get("OPENAGENTS_ENV", "dev")
    defaults = local_defaults() if env == "dev" else {}
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

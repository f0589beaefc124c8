"""The model providers the proxy forwards to, and where each one is.

    provider     dialect     upstream base (setting → default)                                 platform key
    openai       openai      OPENAI_BASE_URL → https://api.openai.com/v1                        OPENAI_API_KEY
    openrouter   openai      LLM_UPSTREAM_OPENROUTER_BASE → https://openrouter.ai/api/v1        (BYOK only)
    google       openai      LLM_UPSTREAM_GOOGLE_BASE → …googleapis.com/v1beta/openai           (BYOK only)
    anthropic    anthropic   LLM_UPSTREAM_ANTHROPIC_BASE → https://api.anthropic.com            ANTHROPIC_API_KEY

The OpenAI-compatible route picks the provider from the model name's prefix (`openrouter/…`,
`google/…` or `gemini-…`, `openai/…`; anything else is OpenAI) and forwards the name without it; the
Anthropic route always goes to Anthropic. Each dialect says how a key is sent and which path a
cheap key check calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Provider = Literal["openai", "anthropic", "google", "openrouter"]
PROVIDERS: tuple[Provider, ...] = get_args(Provider)
Dialect = Literal["openai", "anthropic"]

ANTHROPIC_VERSION = "2023-06-01"  # sent when the caller names none

_DEFAULT_BASES: dict[Provider, str] = {
    "openai": "https://api.openai.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "google": "https://generativelanguage.googleapis.com/v1beta/openai",
    "anthropic": "https://api.anthropic.com",
}
_BASE_SETTINGS: dict[Provider, str] = {
    "openai": "OPENAI_BASE_URL",
    "openrouter": "LLM_UPSTREAM_OPENROUTER_BASE",
    "google": "LLM_UPSTREAM_GOOGLE_BASE",
    "anthropic": "LLM_UPSTREAM_ANTHROPIC_BASE",
}
_PLATFORM_KEYS: dict[Provider, str] = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where the proxy sends a provider's calls, and in which dialect."""

    provider: Provider
    dialect: Dialect
    base: str  # without a trailing slash

    @property
    def call_url(self) -> str:
        return self.base + ("/v1/messages" if self.dialect == "anthropic" else "/chat/completions")

    @property
    def check_url(self) -> str:
        """A cheap authenticated GET: the provider's model list."""
        return self.base + ("/v1/models" if self.dialect == "anthropic" else "/models")

    def auth_headers(self, key: str) -> dict[str, str]:
        if self.dialect == "anthropic":
            return {"x-api-key": key}
        return {"Authorization": f"Bearer {key}"}


def dialect_of(provider: Provider) -> Dialect:
    return "anthropic" if provider == "anthropic" else "openai"


def configured_base(provider: Provider) -> str | None:
    """The base URL set for `provider`, or None when it is left at the provider's public default."""
    from shared.config import get_settings

    value = getattr(get_settings(), _BASE_SETTINGS[provider])
    return str(value).rstrip("/") if value else None


def upstream(provider: Provider) -> Upstream:
    return Upstream(provider, dialect_of(provider), configured_base(provider) or _DEFAULT_BASES[provider])


def platform_key(provider: Provider) -> str | None:
    """The platform's own key for `provider` (None: only the user's own key can reach it)."""
    from shared.config import get_settings

    name = _PLATFORM_KEYS.get(provider)
    secret = getattr(get_settings(), name) if name else None
    return secret.get_secret_value() if secret is not None and secret.get_secret_value() else None


def route_model(dialect: Dialect, model: str) -> tuple[Provider, str]:
    """Which provider serves `model` on a route of `dialect`, and the model name to send it."""
    if dialect == "anthropic":
        return "anthropic", model.removeprefix("anthropic/")
    prefix, _, rest = model.partition("/")
    if rest and prefix in ("openai", "openrouter", "google"):
        return prefix, rest  # type: ignore[return-value]
    if model.startswith("gemini-"):
        return "google", model
    return "openai", model

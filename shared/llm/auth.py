"""The proxy's auth kind (`auth="llm-proxy"` on a route): the calling instance's proxy token, as
`Authorization: Bearer <token>` (OpenAI clients) or `x-api-key: <token>` (Anthropic clients).

The verifier resolves the token to its instance (`tokens.resolve`: hashed lookup, live instances
only) before the handler runs and leaves that `Caller` on the request (`caller()`), so a handler
cannot act without one. The one exception: an unclaimed warm-pool unit's token
(`tokens.unclaimed_unit`) passes with no caller, only its unit (`warmup_unit()`), and the proxy
answers such a call itself (`warmup.py`). Anything else is a 401 with the provider-shaped error body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.llm import errors
from shared.llm.tokens import Caller, resolve, unclaimed_unit
from shared.web.verifiers import Inbound, register

MAX_CALL_BYTES = 3 << 19  # 1.5 MiB: OpenClaw's ~50 KB system prompt plus a long session's history


def _token(inbound: Inbound) -> str:
    key = inbound.headers.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, value = inbound.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


@dataclass(frozen=True, slots=True)
class ProxyToken:
    name: str = "llm-proxy"
    errors: tuple[int, ...] = (401,)
    max_body: int | None = MAX_CALL_BYTES
    scheme: dict[str, Any] = field(default_factory=lambda: {
        "type": "http", "scheme": "bearer",
        "description": "The instance's LLM proxy token: `Authorization: Bearer <token>` or `x-api-key: <token>`."})

    def verify(self, inbound: Inbound) -> None:
        from flask import g

        token = _token(inbound)
        found = resolve(token)
        if found is not None:
            g.llm_caller = found
            return
        unit = unclaimed_unit(token)
        if unit is None:
            raise errors.invalid_token()
        g.llm_warmup_unit = unit


PROXY_TOKEN = register(ProxyToken())


def caller() -> Caller:
    """The instance the current proxy request acts for (set by the verifier)."""
    from flask import g

    found: Caller | None = getattr(g, "llm_caller", None)
    if found is None:
        raise errors.invalid_token()
    return found


def warmup_unit() -> str | None:
    """The unclaimed warm-pool unit the current proxy request comes from (None for an instance's call)."""
    from flask import g

    unit: str | None = getattr(g, "llm_warmup_unit", None)
    return unit


def instance_key(ctx: object, body: object) -> str:
    """The rate-limit subject of a proxy call: its instance (or its unclaimed unit)."""
    unit = warmup_unit()
    return f"pool-{unit}" if unit is not None else caller().instance_id

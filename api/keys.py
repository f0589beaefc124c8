"""Your own provider keys (BYOK): stored only in Vault, listed without the key (ARCHITECTURE §6)."""

from __future__ import annotations

from flask import Response

from shared import ratelimit
from shared.llm import keys
from shared.llm.models import ApiKey, KeyInput
from shared.llm.providers import PROVIDERS, Provider
from shared.pagination import Page
from shared.problems import not_found
from shared.web import RequestContext, Router, create_app

router = Router("keys")


def _provider(name: str) -> Provider:
    if name not in PROVIDERS:
        raise not_found(f"provider (one of {', '.join(PROVIDERS)})")
    return name


@router.get("/api/keys", response=Page[ApiKey])
def list_keys(ctx: RequestContext) -> Page[ApiKey]:
    """The providers you have a key for (never the keys)."""
    return keys.list_keys(ctx.user)


@router.put("/api/keys/{provider}", body=KeyInput, response=ApiKey, errors=(404, 422, 502), rate_limit=ratelimit.KEYS)
def put_key(ctx: RequestContext, provider: str, body: KeyInput) -> ApiKey:
    """Store (or replace) your key for openai, anthropic, google or openrouter; the proxy prefers it."""
    return keys.put_key(ctx.user_id, _provider(provider), body.api_key)


@router.delete("/api/keys/{provider}", status=204, errors=(404,), rate_limit=ratelimit.KEYS)
def delete_key(ctx: RequestContext, provider: str) -> Response:
    """Delete your key for a provider (its Vault secret goes with it)."""
    keys.delete_key(ctx.user_id, _provider(provider))
    return Response(status=204)


app = create_app(__name__, [router])

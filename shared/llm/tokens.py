"""Per-instance proxy tokens: what an agent machine holds instead of any provider key (ARCHITECTURE
§5a "LLM proxy").

A token is made once per owner — an instance, or a warm-pool unit (`pool-<unit id>`) whose machine
is made before anyone hires it — and kept in Vault (`instance-llm-proxy:<owner>`), so a config update
gives the machine the same token again. `proxy_tokens` keeps its SHA-256, which is what a call is
looked up by (`resolve`): the token names the instance, so one instance's token can act for that
instance only. A unit's token acts for the instance that claimed the unit, and for nobody before;
a destroyed (or destroying) instance's token, or a deleted account's, is refused. On its first use
after the claim a unit's token is adopted by the instance (its row then names the instance and user,
so revoking and account deletion find it like any other). Before the claim a unit's token is only
good for the proxy's own warm-up answer (`unclaimed_unit`, `warmup.py`): never forwarded, never metered.

`machine_env(owner)` is what provisioning adds to a machine's env (the four *fixed* names):

    OPENAI_BASE_URL=<LLM_PROXY_URL>/v1   OPENAI_API_KEY=<token>
    ANTHROPIC_BASE_URL=<LLM_PROXY_URL>   ANTHROPIC_API_KEY=<token>

— and nothing else: no provider key, no platform secret. Without a proxy URL (production without
PUBLIC_URL or LLM_PROXY_URL) machines get none of it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from shared.data import get_db

POOL_PREFIX = "pool-"


def secret_name(owner: str) -> str:
    return f"instance-llm-proxy:{owner}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def proxy_url() -> str | None:
    """The proxy's root as machines reach it (`…/llm`), or None when the platform's address is unknown."""
    from shared.config import get_settings

    s = get_settings()
    if s.LLM_PROXY_URL:
        return s.LLM_PROXY_URL.rstrip("/")
    if s.PUBLIC_URL or not s.is_production:
        return s.public_url.rstrip("/") + "/llm"
    return None


def _owner(owner: str) -> dict[str, str | None]:
    if owner.startswith(POOL_PREFIX):
        return {"instance_id": None, "warm_pool_id": owner.removeprefix(POOL_PREFIX)}
    return {"instance_id": owner, "warm_pool_id": None}


def ensure_token(owner: str) -> str:
    """The owner's token, made (and recorded) on first use. Making the secret and the row is one
    transaction and both are unique per owner, so racing callers end with the same single token."""
    from psycopg import errors

    ids = _owner(owner)
    with get_db().service() as tx:
        value = tx.scalar("proxy_token_of", **ids)
    if value:
        return str(value)
    try:
        with get_db().service() as tx:
            token = "oa_llm_" + secrets.token_urlsafe(32)
            secret_id = tx.scalar("vault_create_secret", secret=token, secret_name=secret_name(owner),
                                  description="OpenAgents LLM proxy token")
            made = tx.scalar("proxy_token_insert", token_hash=hash_token(token), secret_id=secret_id, **ids)
            if made is None:
                raise LookupError(f"no instance or warm-pool unit {owner}")
            return token
    except errors.UniqueViolation:
        with get_db().service() as tx:  # another caller made it first: theirs is the one
            value = tx.scalar("proxy_token_of", **ids)
        if not value:
            raise
        return str(value)


def machine_env(owner: str) -> dict[str, str]:
    url = proxy_url()
    if url is None:
        return {}
    token = ensure_token(owner)
    return {"OPENAI_BASE_URL": f"{url}/v1", "OPENAI_API_KEY": token,
            "ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": token}


@dataclass(frozen=True, slots=True)
class Caller:
    """The instance a proxy call acts for."""

    token_id: str
    instance_id: str
    user_id: str
    agent_id: str | None
    plan: str
    plan_status: str
    cap_hourly: int | None  # the owner's own caps (None: the plan's default)
    cap_daily: int | None


def resolve(token: str) -> Caller | None:
    """The live instance a token acts for, or None (unknown, revoked, unclaimed unit, destroyed
    instance, deleted account)."""
    if not token or len(token) > 256:
        return None
    # One statement in one round trip (in front of every model call): the lookup, a claimed unit's
    # adoption and the touch.
    row = get_db().service_once("proxy_token_caller", token_hash=hash_token(token))
    if row is None:
        return None
    return Caller(token_id=str(row["token_id"]), instance_id=str(row["instance_id"]), user_id=str(row["user_id"]),
                  agent_id=str(row["agent_id"]) if row["agent_id"] else None, plan=row["plan"],
                  plan_status=row["plan_status"], cap_hourly=row["spend_cap_hourly"],
                  cap_daily=row["spend_cap_daily"])


def unclaimed_unit(token: str) -> str | None:
    """The id of the unclaimed (creating or ready) warm-pool unit whose token this is, else None."""
    if not token or len(token) > 256:
        return None
    with get_db().service() as tx:
        unit = tx.scalar("proxy_token_unclaimed_unit", token_hash=hash_token(token))
    return str(unit) if unit else None


def revoke_instance(instance_id: str) -> int:
    """Revokes the instance's tokens and deletes their secrets (account deletion, destroy)."""
    with get_db().service() as tx:
        secret_ids = [r["secret_id"] for r in tx.all("proxy_tokens_revoke", instance_id=instance_id)]
        for secret_id in secret_ids:
            if secret_id is not None:
                tx.execute("vault_delete_secret", id=secret_id)
    return len(secret_ids)

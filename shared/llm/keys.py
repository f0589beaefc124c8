"""BYOK: a user's own provider keys (ARCHITECTURE §3 `api_keys`, §6 "keys & access").

A key is stored only in Vault (secret `byok:<user>:<provider>`); the `api_keys` row keeps the
provider, the secret's id, the last four characters and the times it was made, replaced and last
used. Nothing returns a key: the API lists providers, errors never quote one, and the moment a key is
in this process's memory (stored or read for a call) its value joins the log redactor, so a key that
slips into a message is masked anyway. Machines never see one: the LLM proxy adds it to the
provider call (`shared.llm.opening` reads it, in the statement that opens the call).

Before a key is stored it can be tried with one cheap call (the provider's model list) —
LLM_CHECK_KEYS, on in production by default: a key the provider refuses is answered 422 and not
stored. Storing is one transaction under a per-(user, provider) advisory lock, so two PUTs at once
leave one secret and one row.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from shared import audit, logs
from shared.data import acting_as, get_db
from shared.llm.models import ApiKey
from shared.llm.providers import Provider, upstream
from shared.pagination import Page
from shared.problems import Problem, not_found

if TYPE_CHECKING:
    from shared.auth import User

log = logging.getLogger("openagents.llm")


def secret_name(user_id: str, provider: Provider) -> str:
    return f"byok:{user_id}:{provider}"


def _checking() -> bool:
    from shared.config import get_settings

    s = get_settings()
    return s.LLM_CHECK_KEYS if s.LLM_CHECK_KEYS is not None else s.is_production


def check_key(provider: Provider, key: str) -> bool:
    """One authenticated GET of the provider's model list. True if the provider accepted the key;
    a refusal is 422, a provider that cannot be reached 502 (the key is not stored either way)."""
    import httpx

    from shared.llm.upstream_http import client

    up = upstream(provider)
    headers = up.auth_headers(key)
    if up.dialect == "anthropic":
        headers["anthropic-version"] = "2023-06-01"
    try:
        resp = client().get(up.check_url, headers=headers, timeout=10.0)
    except httpx.HTTPError as exc:
        logs.log(log, logging.WARNING, "key check could not reach the provider", provider=provider,
                 error=type(exc).__name__)
        raise Problem(502, "Bad Gateway", f"Could not reach {provider} to check the key; try again.",
                      code="key-check-failed") from None
    if resp.status_code in (401, 403):
        raise Problem(422, "Unprocessable Content", f"{provider} refused this key.", code="key-refused")
    if resp.status_code >= 400:
        raise Problem(502, "Bad Gateway", f"{provider} answered {resp.status_code} to the key check; try again.",
                      code="key-check-failed")
    return True


def put_key(user_id: str, provider: Provider, key: str) -> ApiKey:
    logs.register_secrets([key])
    checked = check_key(provider, key) if _checking() else None
    with get_db().service() as tx:
        tx.execute("byok_lock", user_id=user_id, provider=provider)
        row = tx.one("byok_row", user_id=user_id, provider=provider)
        if row is not None:
            tx.execute("vault_update_secret", id=row["secret_id"], secret=key)
            saved = tx.one("byok_replace", id=row["id"], last_four=key[-4:])
        else:
            secret_id = tx.scalar("vault_create_secret", secret=key, secret_name=secret_name(user_id, provider),
                                  description=f"OpenAgents BYOK key ({provider})")
            saved = tx.one("byok_insert", user_id=user_id, provider=provider, secret_id=secret_id,
                           last_four=key[-4:])
        audit.record(tx, user_id, "keys.stored", f"key:{provider}", {"provider": provider, "replaced": row is not None,
                                                                     "checked": checked})
    assert saved is not None
    logs.log(log, logging.INFO, "byok key stored", user_id=user_id, provider=provider, replaced=row is not None)
    return ApiKey(**saved, checked=checked)


def list_keys(user: User) -> Page[ApiKey]:
    with acting_as(user) as tx:
        rows = tx.all("byok_list_mine")
    return Page[ApiKey](items=[ApiKey(**r) for r in rows], next_cursor=None)


def delete_key(user_id: str, provider: Provider) -> None:
    with get_db().service() as tx:
        tx.execute("byok_lock", user_id=user_id, provider=provider)
        secret_id = tx.scalar("byok_delete", user_id=user_id, provider=provider)
        if secret_id is None:
            raise not_found("key for this provider")
        tx.execute("vault_delete_secret", id=secret_id)
        audit.record(tx, user_id, "keys.deleted", f"key:{provider}", {"provider": provider})
    logs.log(log, logging.INFO, "byok key deleted", user_id=user_id, provider=provider)

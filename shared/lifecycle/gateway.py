"""The per-instance gateway token: made once, kept only in Vault (the row holds the secret's id).

The bridge requires it on every call (ARCHITECTURE §5a); the machine gets it in its env, chat and
relays read it through `wake.machine_target`. It is never logged or returned by the API.
"""

from __future__ import annotations

import secrets

from shared.data import get_db


def secret_name(instance_id: str) -> str:
    return f"instance-gateway:{instance_id}"


def ensure_token(instance_id: str) -> str:
    """The instance's token, creating it (and recording its Vault id) on first use.

    Creating the secret and recording its id are one transaction, and the secret's name is unique,
    so a crash or a concurrent call can never leave two tokens for one instance.
    """
    return _ensure(secret_name(instance_id), "instance_row", "instance_set_gateway_secret", instance_id)


def ensure_unit_token(unit_id: str) -> str:
    """A warm-pool unit's own token (`instance-gateway:pool-<unit id>`), made the same way; the hire
    that claims the unit takes the secret over (the machine already has it in its env)."""
    return _ensure(secret_name(f"pool-{unit_id}"), "warm_pool_unit", "warm_pool_set_gateway_secret", unit_id)


def _ensure(name: str, row_query: str, record_query: str, owner_id: str) -> str:
    from psycopg import errors

    with get_db().service() as tx:
        row = tx.one(row_query, id=str(owner_id))
        if row is not None and row["gateway_token_secret_id"] is not None:
            value = tx.scalar("vault_secret_value", id=row["gateway_token_secret_id"])
            if value:
                return str(value)
    try:
        with get_db().service() as tx:
            token = "gw_" + secrets.token_urlsafe(32)
            secret_id = tx.scalar("vault_create_secret", secret=token, secret_name=name,
                                  description="OpenAgents instance gateway token")
            tx.execute(record_query, id=str(owner_id), secret_id=secret_id)
            return token
    except errors.UniqueViolation:
        # Made by an earlier attempt whose id was not recorded: adopt it.
        with get_db().service() as tx:
            secret_id = tx.scalar("vault_secret_id_by_name", secret_name=name)
            tx.execute(record_query, id=str(owner_id), secret_id=secret_id)
            return str(tx.scalar("vault_secret_value", id=secret_id))


def read_token(secret_id: str | None) -> str | None:
    if secret_id is None:
        return None
    with get_db().service() as tx:
        value = tx.scalar("vault_secret_value", id=str(secret_id))
    return str(value) if value else None


def delete_token(secret_id: str | None) -> None:
    if secret_id is None:
        return
    with get_db().service() as tx:
        tx.execute("vault_delete_secret", id=str(secret_id))

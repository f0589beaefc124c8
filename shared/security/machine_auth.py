"""`auth="gateway"`: machine-facing routes authenticated by the calling instance's gateway token.

The token (`Authorization: Bearer <gateway token>`) lives in Vault only (shared.lifecycle.gateway).
To learn which instance a token belongs to without a scan, `private.gateway_token_hashes` maps the
token's SHA-256 to its instance; the hash is recorded the first time a machine proves its token
against Vault (sending its `instance_id` in the JSON body), or when SSH is configured. Every call is
then checked against the instance's *current* Vault token with a constant-time comparison, so a token
that was rotated, or deleted with its instance or account, stops working at once even though its
hash row may linger.

On success the instance id is kept on the request (`machine_instance_id()`); on failure: 401.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

from flask import g

from shared.data import get_db
from shared.problems import unauthorized
from shared.web.verifiers import Inbound, register

_DETAIL = "Machine calls need `Authorization: Bearer <the instance's gateway token>`."


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hinted_instance(body: bytes) -> str | None:
    """The `instance_id` the body names, if any (the body is validated properly after auth)."""
    try:
        data = json.loads(body) if body else None
        return str(uuid.UUID(str(data["instance_id"]))) if isinstance(data, dict) and data.get("instance_id") else None
    except (ValueError, TypeError, KeyError, RecursionError):
        return None


def resolve_instance(token: str, hint: str | None = None) -> str | None:
    """The instance whose current gateway token is `token`, or None."""
    digest = token_sha256(token)
    with get_db().service() as tx:
        row = tx.one("gateway_token_by_hash", token_sha256=digest)
        if row is not None and row["token"] and hmac.compare_digest(str(row["token"]).encode(), token.encode()):
            return str(row["instance_id"])
        if hint is None or (row is not None and str(row["instance_id"]) == hint):
            return None
        current = tx.scalar("gateway_token_of_instance", instance_id=hint)
        if current and hmac.compare_digest(str(current).encode(), token.encode()):
            tx.execute("gateway_token_hash_upsert", instance_id=hint, token_sha256=digest)
            return hint
    return None


@dataclass(frozen=True, slots=True)
class GatewayToken:
    name: str = "gateway"
    errors: tuple[int, ...] = (401,)
    max_body: int | None = 64 * 1024

    @property
    def scheme(self) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer",
                "description": "The calling instance's gateway token (agent machines only)."}

    def verify(self, inbound: Inbound) -> None:
        header = inbound.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 512:
            raise unauthorized(_DETAIL)
        instance_id = resolve_instance(token, _hinted_instance(inbound.body))
        if instance_id is None:
            raise unauthorized(_DETAIL)
        g.machine_instance_id = instance_id


GATEWAY = register(GatewayToken())


def machine_instance_id() -> str:
    """The instance the gateway verifier authenticated for this request."""
    value = g.get("machine_instance_id")
    if not value:
        raise unauthorized(_DETAIL)
    return str(value)

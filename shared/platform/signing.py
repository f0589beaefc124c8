"""Skill-signing keys (ARCHITECTURE §5c): the active key signs, retired keys keep verifying.

The private key is `SKILL_SIGNING_KEY`: `<key_id>:<base64url raw 32-byte Ed25519 key>` (shared/skill_signing.py,
the form the dev stack generates); a bare key — base64url, 64 hex characters or a PKCS#8 PEM — works too.
It never enters the database: its public half is registered in `signing_keys` the first time it is used
(`private.rotate_signing_key`), which makes it the active key and retires the one before. Rotation is
therefore: configure a new SKILL_SIGNING_KEY (make one with `new_private_key()`, or let `rotate()`
register it at once); from then on new versions are signed by it, while the retired keys stay listed —
and belong in the machines' `SKILL_SIGNING_PUBLIC_KEYS` — so signatures made earlier keep verifying. A
key once retired is never used to sign again.

The key id is the one SKILL_SIGNING_KEY names; for a bare key, the id `SKILL_SIGNING_PUBLIC_KEYS` gives the
same public key, else `k-` + the first 16 characters of base64url(SHA-256(public key)). A public key
registered earlier keeps the id it was registered with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from shared import logs
from shared.data import Tx, get_db
from shared.platform.models import SigningKey, SigningKeyList
from shared.problems import unavailable

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from shared.skills.signatures import SkillSignature

log = logging.getLogger("openagents.platform")


class SigningNotConfigured(Exception):
    """No usable SKILL_SIGNING_KEY (missing, malformed, or a retired key)."""


@dataclass(frozen=True)
class Signer:
    key_id: str
    private_key: Ed25519PrivateKey
    public_key: str  # base64url raw

    def sign(self, files: dict[str, bytes], permissions: Any) -> SkillSignature:
        from shared.skills.signatures import sign_skill

        return sign_skill(files, permissions, self.private_key, self.key_id)


def load_private_key(text: str) -> Ed25519PrivateKey:
    """base64url / hex raw key or PKCS#8 PEM → key; ValueError otherwise (the message never holds the key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError):
            raise ValueError("SKILL_SIGNING_KEY is not a readable PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("SKILL_SIGNING_KEY is not an Ed25519 key")
        return key
    raw: bytes | None = None
    if len(text) == 64:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise ValueError("SKILL_SIGNING_KEY is not base64url, hex or PEM") from None
    if len(raw) != 32:
        raise ValueError("SKILL_SIGNING_KEY is not a raw 32-byte Ed25519 key")
    return Ed25519PrivateKey.from_private_bytes(raw)


def new_private_key() -> str:
    """A fresh key in SKILL_SIGNING_KEY's form (`<key_id>:<base64url raw key>`)."""
    from shared.skill_signing import new_signing_key

    return new_signing_key("k").to_setting()


def derive_key_id(public_key: str, announced: str | None = None) -> str:
    """The id `announced` (a SKILL_SIGNING_PUBLIC_KEYS JSON) gives this public key, else one derived from it."""
    if announced:
        try:
            listed = json.loads(announced)
        except ValueError:
            listed = None
        if isinstance(listed, dict):
            for key_id, value in listed.items():
                if str(value).rstrip("=") == public_key:
                    return str(key_id)
    digest = hashlib.sha256(base64.urlsafe_b64decode(public_key + "=" * (-len(public_key) % 4))).digest()
    return "k-" + base64.urlsafe_b64encode(digest).decode()[:16]


def signer_from(private_key_text: str, announced: str | None = None) -> Signer:
    from shared.skills.signatures import public_key_b64

    text = private_key_text.strip()
    if ":" in text and not text.startswith("-----BEGIN"):
        from shared.skill_signing import parse_signing_key

        named = parse_signing_key(text)
        return Signer(key_id=named.key_id, private_key=named.private_key, public_key=named.public_key)
    key = load_private_key(text)
    public = public_key_b64(key)
    return Signer(key_id=derive_key_id(public, announced), private_key=key, public_key=public)


def configured_signer() -> Signer:
    """The signer of SKILL_SIGNING_KEY; SigningNotConfigured when there is none or it is malformed."""
    from shared.config import get_settings

    settings = get_settings()
    if settings.SKILL_SIGNING_KEY is None or not settings.SKILL_SIGNING_KEY.get_secret_value().strip():
        raise SigningNotConfigured("SKILL_SIGNING_KEY is not set")
    try:
        return signer_from(settings.SKILL_SIGNING_KEY.get_secret_value(), settings.SKILL_SIGNING_PUBLIC_KEYS)
    except ValueError as exc:
        raise SigningNotConfigured(str(exc)) from None


def register(tx: Tx, signer: Signer) -> tuple[Signer, str]:
    """Registers the signer's public key (becoming the active key if it is new) → (signer, status).
    A public key registered earlier under another id keeps that id: it is the one verifiers know."""
    row = tx.one("signing_key_rotate", key_id=signer.key_id, public_key=signer.public_key)
    assert row is not None
    return replace(signer, key_id=str(row["key_id"])), str(row["status"])


def active_signer(tx: Tx) -> Signer:
    """The configured key, registered and active, for signing in this transaction; 503 otherwise."""
    try:
        signer = configured_signer()
    except SigningNotConfigured as exc:
        raise unavailable(f"Skill signing is not configured: {exc}.", code="signing-not-configured") from None
    signer, status = register(tx, signer)
    if status != "active":
        raise unavailable("Skill signing is not configured: SKILL_SIGNING_KEY is a retired key; configure the "
                          "active one or a new key.", code="signing-not-configured")
    return signer


def rotate(tx: Tx, private_key_text: str | None = None) -> tuple[Signer, str]:
    """Registers a new key (generated when none is given) as the active one, retiring the previous;
    returns its signer and the private key to configure as SKILL_SIGNING_KEY (the admin CLI prints it)."""
    from shared.config import get_settings

    text = private_key_text or new_private_key()
    signer = signer_from(text, get_settings().SKILL_SIGNING_PUBLIC_KEYS)
    signer, status = register(tx, signer)
    if status != "active":
        raise ValueError("that key was retired before; rotate to a new key")
    return signer, text


def ensure_registered() -> None:
    """Registers the configured key if it is not yet (dev: the key row exists before anything is signed)."""
    try:
        signer = configured_signer()
    except SigningNotConfigured as exc:
        logs.log(log, logging.INFO, "skill signing is not configured", reason=str(exc))
        return
    with get_db().service() as tx:
        register(tx, signer)


def list_keys() -> SigningKeyList:
    ensure_registered()
    with get_db().anon() as tx:
        rows = tx.all("signing_keys_list")
    return SigningKeyList(items=[SigningKey.model_validate(r) for r in rows])


def public_keys_json(tx: Tx) -> str:
    """Every registered key as the machines' `SKILL_SIGNING_PUBLIC_KEYS` JSON (retired ones included)."""
    return json.dumps({r["key_id"]: r["public_key"] for r in tx.all("signing_keys_list")}, separators=(",", ":"))

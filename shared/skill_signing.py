"""The platform's skill-signing key as configuration carries it.

    SKILL_SIGNING_KEY           `<key_id>:<base64url of the raw 32-byte Ed25519 private key>`
    SKILL_SIGNING_PUBLIC_KEYS   `{"<key_id>": "<base64url raw public key>", …}` (ARCHITECTURE §5c),
                                the active key's public half plus every retired one

The key id travels inside SKILL_SIGNING_KEY so a signature always names the key that made it. This
sits outside `shared/skills`, which the machine image copies on its own: machines never hold the
private key. In dev both are generated once into `.data/local.env` (shared.config.ensure_local_secrets).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.skills.signatures import b64url_decode, b64url_encode, public_key_b64


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> str:
        """base64url of the raw 32-byte public key (the served and shipped form)."""
        return public_key_b64(self.private_key)

    def to_setting(self) -> str:
        raw = self.private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                             serialization.NoEncryption())
        return f"{self.key_id}:{b64url_encode(raw)}"


def parse_signing_key(value: str) -> SigningKey:
    """SKILL_SIGNING_KEY → the key; ValueError (without the secret in it) when malformed."""
    key_id, sep, encoded = value.strip().partition(":")
    if not sep or not key_id or not encoded:
        raise ValueError("SKILL_SIGNING_KEY must be `<key_id>:<base64url raw Ed25519 private key>`")
    try:
        raw = b64url_decode(encoded)
    except ValueError:
        raise ValueError("SKILL_SIGNING_KEY's key part is not base64url") from None
    if len(raw) != 32:
        raise ValueError("SKILL_SIGNING_KEY's key part is not a raw 32-byte Ed25519 private key")
    return SigningKey(key_id, Ed25519PrivateKey.from_private_bytes(raw))


def new_signing_key(prefix: str = "dev") -> SigningKey:
    """A fresh key whose id is derived from its public half (stable, and unique per key)."""
    key = Ed25519PrivateKey.generate()
    key_id = f"{prefix}-{hashlib.sha256(b64url_decode(public_key_b64(key))).hexdigest()[:12]}"
    return SigningKey(key_id, key)


def public_keys_setting(*keys: SigningKey) -> str:
    """SKILL_SIGNING_PUBLIC_KEYS for these keys."""
    return json.dumps({k.key_id: k.public_key for k in keys}, separators=(",", ":"))

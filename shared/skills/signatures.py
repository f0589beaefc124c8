"""Skill signatures (ARCHITECTURE §5c, *fixed* format).

    content hash      SHA-256 over the skill folder's files sorted by relative POSIX path, each
                      contributing `<path>\\0<sha256 hex of the bytes>\\n`                      (hex)
    permissions hash  SHA-256 of the declared permissions as canonical JSON: sorted keys, no
                      whitespace, UTF-8 (non-ASCII kept as is)                                (hex)
    signature         Ed25519 over `openagents-skill-v1\\n<content hash>\\n<permissions hash>`,
                      base64url without padding, with the id of the signing key

Public keys travel as `{key_id: base64url(raw 32-byte Ed25519 public key)}` (the machines'
`SKILL_SIGNING_PUBLIC_KEYS`); a retired key stays in that set so old signatures keep verifying.

This module is used by the platform (publish flow) and by the agent machine's bridge, and it is copied
into the machine image on its own: it must import nothing from the project — only the standard library
and `cryptography` (a test checks this).

    SignatureError               why a skill does not verify (`reason` is a short machine word)
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_DOMAIN = "openagents-skill-v1"


class SignatureError(Exception):
    """A skill that does not verify. `reason`: unsigned, unknown_key, bad_signature, content_mismatch,
    permissions_mismatch, malformed."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SkillSignature:
    key_id: str
    signature: str
    content_hash: str
    permissions_hash: str

    def to_dict(self) -> dict[str, str]:
        return {"key_id": self.key_id, "signature": self.signature,
                "content_hash": self.content_hash, "permissions_hash": self.permissions_hash}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SkillSignature:
        try:
            return cls(key_id=str(data["key_id"]), signature=str(data["signature"]),
                       content_hash=str(data.get("content_hash", "")),
                       permissions_hash=str(data.get("permissions_hash", "")))
        except (KeyError, TypeError) as exc:
            raise SignatureError("malformed", "a signature needs key_id and signature") from exc


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _check_path(path: str) -> str:
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        raise SignatureError("malformed", f"bad file path in skill: {path!r}")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise SignatureError("malformed", f"bad file path in skill: {path!r}")
    return path


def content_hash(files: Mapping[str, bytes]) -> str:
    """`files` maps paths relative to the skill folder (POSIX separators) to their bytes."""
    h = hashlib.sha256()
    for path in sorted(_check_path(p) for p in files):
        h.update(path.encode("utf-8") + b"\0" + hashlib.sha256(files[path]).hexdigest().encode("ascii") + b"\n")
    return h.hexdigest()


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def permissions_hash(permissions: Any) -> str:
    return hashlib.sha256(canonical_json(permissions)).hexdigest()


def signing_message(content_hash_hex: str, permissions_hash_hex: str) -> bytes:
    return f"{SIGNATURE_DOMAIN}\n{content_hash_hex}\n{permissions_hash_hex}".encode("ascii")


def sign_skill(files: Mapping[str, bytes], permissions: Any, private_key: Ed25519PrivateKey,
               key_id: str) -> SkillSignature:
    ch = content_hash(files)
    ph = permissions_hash(permissions)
    sig = private_key.sign(signing_message(ch, ph))
    return SkillSignature(key_id=key_id, signature=b64url_encode(sig), content_hash=ch, permissions_hash=ph)


def load_public_keys(spec: str | Mapping[str, str] | None) -> dict[str, Ed25519PublicKey]:
    """`{key_id: base64url raw key}` (a JSON string or a mapping) → key objects; bad entries raise."""
    if not spec:
        return {}
    raw = json.loads(spec) if isinstance(spec, str) else dict(spec)
    if not isinstance(raw, dict):
        raise ValueError("signing public keys must be a JSON object {key_id: base64url key}")
    keys: dict[str, Ed25519PublicKey] = {}
    for key_id, encoded in raw.items():
        data = b64url_decode(str(encoded))
        if len(data) != 32:
            raise ValueError(f"public key {key_id!r} is not a raw 32-byte Ed25519 key")
        keys[str(key_id)] = Ed25519PublicKey.from_public_bytes(data)
    return keys


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return b64url_encode(pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def verify_skill(files: Mapping[str, bytes], permissions: Any, signature: SkillSignature | Mapping[str, Any] | None,
                 public_keys: Mapping[str, Ed25519PublicKey]) -> SkillSignature:
    """Checks a skill against its signature; returns the signature (with the recomputed hashes) or
    raises SignatureError. The hashes a signature record carries are optional: when present they must
    equal what the files and permissions hash to."""
    if signature is None:
        raise SignatureError("unsigned", "the skill has no signature")
    sig = signature if isinstance(signature, SkillSignature) else SkillSignature.from_dict(signature)
    ch = content_hash(files)
    try:
        ph = permissions_hash(permissions)
    except (TypeError, ValueError) as exc:
        raise SignatureError("malformed", "permissions are not JSON-serialisable") from exc
    if sig.content_hash and sig.content_hash != ch:
        raise SignatureError("content_mismatch", "the skill's files do not match the signed content hash")
    if sig.permissions_hash and sig.permissions_hash != ph:
        raise SignatureError("permissions_mismatch", "the declared permissions do not match the signed permissions hash")
    key = public_keys.get(sig.key_id)
    if key is None:
        raise SignatureError("unknown_key", f"unknown signing key {sig.key_id!r}")
    try:
        key.verify(b64url_decode(sig.signature), signing_message(ch, ph))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError("bad_signature", "the signature does not verify for this content and these permissions") from exc
    return SkillSignature(key_id=sig.key_id, signature=sig.signature, content_hash=ch, permissions_hash=ph)

"""Short-lived stream tokens: the API signs one per turn for one instance; the SSE gateway checks it
and answers `fly-replay` toward that instance's machine.

EdDSA (Ed25519): the gateway holds only the public key, so a compromised gateway cannot mint
tokens. Keys come from settings (`STREAM_TOKEN_PRIVATE_KEY` on the API, `STREAM_TOKEN_PUBLIC_KEY`
on the gateway, raw 32-byte keys in base64url); dev generates a pair in the data folder.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

AUDIENCE = "openagents-sse-gateway"
TTL_S = 60


class StreamTokenError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class StreamTarget:
    instance_id: str
    app: str
    machine_id: str
    turn_id: str


def _b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def new_keypair() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization

    key = Ed25519PrivateKey.generate()
    priv = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64e(priv), b64e(pub)


def sign(target: StreamTarget, private_key_b64: str, *, ttl_s: int = TTL_S) -> str:
    key = Ed25519PrivateKey.from_private_bytes(_b64d(private_key_b64))
    now = int(time.time())
    claims = {"aud": AUDIENCE, "iat": now, "exp": now + ttl_s, "sub": target.instance_id,
              "app": target.app, "machine": target.machine_id, "turn": target.turn_id}
    return jwt.encode(claims, key, algorithm="EdDSA")


def verify(token: str, public_key_b64: str) -> StreamTarget:
    try:
        key = Ed25519PublicKey.from_public_bytes(_b64d(public_key_b64))
        claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=AUDIENCE, leeway=5,
                            options={"require": ["exp", "sub", "aud"]})
        return StreamTarget(instance_id=claims["sub"], app=claims["app"], machine_id=claims["machine"],
                            turn_id=claims["turn"])
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise StreamTokenError(str(exc)) from None

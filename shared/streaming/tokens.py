"""Short-lived stream tokens: the API signs one per turn for one instance; the SSE gateway checks it
and answers `fly-replay` toward that instance's machine.

EdDSA (Ed25519): the gateway holds only the public key, so a compromised gateway cannot mint
tokens. Keys come from settings (`STREAM_TOKEN_PRIVATE_KEY` on the API, `STREAM_TOKEN_PUBLIC_KEY`
on the gateway, raw 32-byte keys in base64url); dev generates a pair in the data folder.

A token also names the machine's **route** (`route_key`): the path prefix `/r/<route>` the API sends
the turn under, which the gateway lets Fly's edge cache the replay for (`fly-replay-cache`), so the
next turns to that machine skip the gateway. It is an HMAC of the instance, app and machine under a
key derived from the private key: unguessable without it (a cached route lets a request reach the
machine without a token, so it must not be findable), and new whenever the machine is replaced, so
a cached route never outlives its machine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from functools import lru_cache

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
    route: str = ""  # `route_key` of the machine; empty in tokens of clients that send no route


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


# Keys are parsed once per process (a turn signs or checks one token; parsing was a third of it).
@lru_cache(maxsize=4)
def _private_key(private_key_b64: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_b64d(private_key_b64))


@lru_cache(maxsize=4)
def _public_key(public_key_b64: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_b64d(public_key_b64))


@lru_cache(maxsize=4)
def _route_secret(private_key_b64: str) -> bytes:
    return hashlib.sha256(b"openagents-stream-route-v1\0" + _b64d(private_key_b64)).digest()


def route_key(instance_id: str, app: str, machine_id: str, private_key_b64: str) -> str:
    """The machine's route: 22 base64url characters (128 bits), stable for one machine of one instance."""
    mac = hmac.new(_route_secret(private_key_b64), f"{instance_id}/{app}/{machine_id}".encode(), hashlib.sha256)
    return b64e(mac.digest()[:16])


def sign(target: StreamTarget, private_key_b64: str, *, ttl_s: int = TTL_S) -> str:
    now = int(time.time())
    claims = {"aud": AUDIENCE, "iat": now, "exp": now + ttl_s, "sub": target.instance_id,
              "app": target.app, "machine": target.machine_id, "turn": target.turn_id}
    if target.route:
        claims["route"] = target.route
    return jwt.encode(claims, _private_key(private_key_b64), algorithm="EdDSA")


def verify(token: str, public_key_b64: str) -> StreamTarget:
    try:
        claims = jwt.decode(token, _public_key(public_key_b64), algorithms=["EdDSA"], audience=AUDIENCE, leeway=5,
                            options={"require": ["exp", "sub", "aud"]})
        return StreamTarget(instance_id=claims["sub"], app=claims["app"], machine_id=claims["machine"],
                            turn_id=claims["turn"], route=str(claims.get("route") or ""))
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise StreamTokenError(str(exc)) from None

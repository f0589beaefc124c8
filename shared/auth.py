"""Supabase access-token verification (and, in dev/test only, minting).

Accepted: HS256 with the project's legacy JWT secret; ES256/RS256 with a key from the JWKS (cached).
The algorithm is chosen by the *key source*, never trusted from the token alone: an HS256 token is
only checked against the shared secret and an asymmetric one only against a JWKS key of the same
type, so `alg: none` and HS/RS confusion cannot pass. `exp`, `aud` (= "authenticated") and, when
configured, the issuer are required.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.problems import unauthorized

if TYPE_CHECKING:
    import jwt
    from jwt.types import Options

    from shared.config import Settings

AUDIENCE = "authenticated"
ASYMMETRIC = {"ES256", "RS256"}
LEEWAY_S = 30
TOKEN_TTL_S = 3600


@dataclass(frozen=True, slots=True)
class User:
    """The signed-in user a verified access token names."""

    id: str
    email: str | None
    claims: dict[str, Any]


_jwks_clients: dict[str, jwt.PyJWKClient] = {}
_jwks_lock = threading.Lock()


def _jwks(url: str) -> jwt.PyJWKClient:
    import jwt

    with _jwks_lock:
        client = _jwks_clients.get(url)
        if client is None:
            # Keys are cached for 10 minutes; an unknown kid triggers one refetch (key rotation).
            client = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=600, timeout=5)
            _jwks_clients[url] = client
        return client


# Tokens already verified, in a warm function: a user's every request carries the same token for up
# to an hour, and checking its signature and claims again is ~0.1–0.3 ms of each (issue 14: in front
# of a chat stream's first token). A hit re-checks only what time can change, `exp` (same leeway);
# an entry lives VERIFIED_TTL_S at most, so a key dropped from the JWKS (itself cached 10 minutes)
# stops working about as soon as before. Keyed by the token and the key material and issuer it was
# checked against: a changed secret or JWKS URL verifies afresh. Only successes are kept.
VERIFIED_TTL_S = 60.0
_VERIFIED_MAX = 1024
_verified: dict[tuple[str, str, str, str], tuple[float, User]] = {}
_verified_lock = threading.Lock()


def verify_access_token(token: str, settings: Settings) -> User:
    issuer = settings.jwt_issuer if (settings.SUPABASE_URL or not settings.is_production) else None
    secret = settings.SUPABASE_JWT_SECRET.get_secret_value() if settings.SUPABASE_JWT_SECRET else ""
    key = (token, secret, settings.SUPABASE_JWKS_URL or "", issuer or "")
    now = time.time()
    hit = _verified.get(key)
    if hit is not None and now < hit[0]:
        return hit[1]
    user = _verify(token, settings, issuer)
    # PyJWT refuses once `exp <= now - leeway`: the entry ends there, or at the TTL if sooner.
    until = min(float(user.claims["exp"]) + LEEWAY_S, now + VERIFIED_TTL_S)
    with _verified_lock:
        if len(_verified) >= _VERIFIED_MAX:
            for stale in [k for k, (end, _) in _verified.items() if end <= now]:
                del _verified[stale]
            while len(_verified) >= _VERIFIED_MAX:  # then the oldest entries
                del _verified[next(iter(_verified))]
        _verified[key] = (until, user)
    return user


def _verify(token: str, settings: Settings, issuer: str | None) -> User:
    import jwt  # PyJWT + cryptography: loaded by the first authenticated request, not at import

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise unauthorized("The access token is malformed.") from None
    alg = header.get("alg")
    options: Options = {"require": ["exp", "sub", "aud"]}
    try:
        if alg == "HS256":
            if not settings.SUPABASE_JWT_SECRET:
                raise unauthorized("HS256 tokens are not accepted here.")
            key: Any = settings.SUPABASE_JWT_SECRET.get_secret_value()
        elif alg in ASYMMETRIC:
            if not settings.SUPABASE_JWKS_URL:
                raise unauthorized("Asymmetric tokens are not accepted here.")
            signing_key = _jwks(settings.SUPABASE_JWKS_URL).get_signing_key_from_jwt(token)
            if signing_key.algorithm_name and signing_key.algorithm_name != alg:
                raise unauthorized("The token's algorithm does not match its key.")
            key = signing_key.key
        else:
            raise unauthorized("The token's signing algorithm is not accepted.")
        claims = jwt.decode(token, key, algorithms=[alg], audience=AUDIENCE, issuer=issuer,
                            leeway=LEEWAY_S, options=options)
    except jwt.ExpiredSignatureError:
        raise unauthorized("The access token has expired.") from None
    except jwt.InvalidAudienceError:
        raise unauthorized("The access token is not meant for this API.") from None
    except jwt.InvalidIssuerError:
        raise unauthorized("The access token was issued by someone else.") from None
    except jwt.PyJWKClientError:
        raise unauthorized("The access token's key is unknown.") from None
    except jwt.PyJWTError:
        raise unauthorized("The access token is not valid.") from None
    if claims.get("role") != "authenticated":
        raise unauthorized("The access token does not belong to a signed-in user.")
    try:
        uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise unauthorized("The access token's subject is not valid.") from None
    return User(id=str(claims["sub"]), email=claims.get("email"), claims=claims)


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("Use `Authorization: Bearer <access token>`.")
    return token.strip()


def mint_access_token(user_id: str, email: str, settings: Settings, *, ttl_s: int = TOKEN_TTL_S) -> str:
    """The same claims Supabase Auth issues, signed with the local secret (dev and test modes only)."""
    import jwt

    if settings.is_production:
        raise RuntimeError("tokens are minted by Supabase Auth in production")
    if not settings.SUPABASE_JWT_SECRET:
        raise RuntimeError("SUPABASE_JWT_SECRET is not set")
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "sub": user_id,
        "aud": AUDIENCE,
        "exp": now + ttl_s,
        "iat": now,
        "email": email,
        "phone": "",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {},
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": "password", "timestamp": now}],
        "session_id": str(uuid.uuid4()),
        "is_anonymous": False,
    }
    return jwt.encode(claims, settings.SUPABASE_JWT_SECRET.get_secret_value(), algorithm="HS256")

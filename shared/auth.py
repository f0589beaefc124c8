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


def verify_access_token(token: str, settings: Settings) -> User:
    import jwt  # PyJWT + cryptography: loaded by the first authenticated request, not at import

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise unauthorized("The access token is malformed.") from None
    alg = header.get("alg")
    options: Options = {"require": ["exp", "sub", "aud"]}
    issuer = settings.jwt_issuer if (settings.SUPABASE_URL or not settings.is_production) else None
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

"""The web console's session: an access token (expires after an hour) and a refresh token, both kept in
HttpOnly cookies, with the access token renewed on the server before it runs out.

With Supabase Auth the refresh token is Supabase's own (password grant, then
`POST /auth/v1/token?grant_type=refresh_token`, which rotates it). Locally (dev and test) there is no
Auth server: the refresh token is a statement "this user signed in until <time>" signed with the local
JWT secret, and refreshing mints a new access token for that user (the same as dev sign-in does).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from pydantic import BaseModel

from shared.problems import Problem

REFRESH_TTL_S = 30 * 24 * 3600
# Renew when less than this is left, so a page rendered now still has a token good for its API calls.
REFRESH_MARGIN_S = 300
_DEV_PREFIX = "dev1."


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    expires_at: int  # unix seconds: when the access token stops working


def _fail() -> Problem:
    return Problem(401, "Unauthorized", "The session ended; sign in again.", code="session-expired")


def needs_refresh(claims: dict[str, Any], now: float | None = None) -> bool:
    exp = claims.get("exp")
    return not isinstance(exp, int | float) or exp - (now or time.time()) < REFRESH_MARGIN_S


# --- local (dev and test) ---------------------------------------------------------------------------

def _dev_key(settings: Any) -> bytes:
    secret = settings.SUPABASE_JWT_SECRET
    if settings.is_production or not secret:
        raise _fail()
    # Derived, so the refresh statement can never be mistaken for anything else signed with the secret.
    return hmac.new(secret.get_secret_value().encode(), b"openagents console refresh", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def dev_refresh_token(user_id: str, email: str, settings: Any, *, ttl_s: int = REFRESH_TTL_S) -> str:
    body = _b64(json.dumps({"sub": user_id, "email": email, "exp": int(time.time()) + ttl_s}).encode())
    mac = _b64(hmac.new(_dev_key(settings), body.encode(), hashlib.sha256).digest())
    return f"{_DEV_PREFIX}{body}.{mac}"


def _dev_refresh(refresh_token: str, settings: Any, *, access_ttl_s: int) -> Tokens:
    from shared.auth import mint_access_token

    body, _, mac = refresh_token.removeprefix(_DEV_PREFIX).partition(".")
    expected = _b64(hmac.new(_dev_key(settings), body.encode(), hashlib.sha256).digest())
    if not mac or not hmac.compare_digest(mac, expected):
        raise _fail()
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        user_id, email, exp = str(claims["sub"]), str(claims["email"]), int(claims["exp"])
    except (ValueError, KeyError, TypeError):
        raise _fail() from None
    if exp < time.time():
        raise _fail()
    access = mint_access_token(user_id, email, settings, ttl_s=access_ttl_s)
    # The refresh statement keeps its own end: renewing access does not extend a sign-in forever.
    return Tokens(access_token=access, refresh_token=refresh_token, expires_at=int(time.time()) + access_ttl_s)


# --- Supabase Auth -----------------------------------------------------------------------------------

def _supabase_token(grant: str, payload: dict[str, str], settings: Any) -> Tokens:
    import httpx

    try:
        resp = httpx.post(f"{settings.SUPABASE_URL.rstrip('/')}/auth/v1/token", params={"grant_type": grant},
                          headers={"apikey": settings.SUPABASE_ANON_KEY.get_secret_value()}, json=payload,
                          timeout=10)
    except httpx.HTTPError:
        raise Problem(503, "Service Unavailable", "Sign-in is unreachable just now; try again.",
                      code="auth-unavailable") from None
    if resp.status_code != 200:
        raise _fail() if grant == "refresh_token" else Problem(
            400, "Bad Request", "That e-mail and password did not sign you in.", code="sign-in-failed")
    data = resp.json()
    expires_at = data.get("expires_at") or int(time.time()) + int(data.get("expires_in", 3600))
    return Tokens(access_token=data["access_token"], refresh_token=data["refresh_token"], expires_at=int(expires_at))


def supabase_sign_in(email: str, password: str, settings: Any) -> Tokens:
    """The password grant, from the server with the anon key (never the service role)."""
    return _supabase_token("password", {"email": email, "password": password}, settings)


def refresh(refresh_token: str, settings: Any, *, supabase: bool, access_ttl_s: int = 3600) -> Tokens:
    """New tokens for a refresh token, or 401 when it no longer works."""
    if not refresh_token:
        raise _fail()
    if refresh_token.startswith(_DEV_PREFIX):
        if supabase:
            raise _fail()  # a local statement is worthless once real Auth is configured
        return _dev_refresh(refresh_token, settings, access_ttl_s=access_ttl_s)
    if not supabase:
        raise _fail()
    return _supabase_token("refresh_token", {"refresh_token": refresh_token}, settings)

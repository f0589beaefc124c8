"""Auth: the signed-in user, and the dev/test sign-in (absent in production)."""

from __future__ import annotations

from shared import accounts, ratelimit
from shared.config import get_settings
from shared.problems import not_found
from shared.web import RequestContext, Router, create_app

router = Router("auth")


@router.post("/api/dev/sign-in", auth="none", body=accounts.SignIn, response=accounts.SignedIn, errors=(404, 429))
def dev_sign_in(ctx: RequestContext, body: accounts.SignIn) -> accounts.SignedIn:
    """Mint a Supabase-shaped access token for an email (dev and test modes only)."""
    if get_settings().is_production:
        raise not_found("route")
    ratelimit.check(f"dev-sign-in:{body.email.lower()}", limit=30, window_s=60)
    return accounts.dev_sign_in(body)


@router.get("/api/me", response=accounts.Me, errors=(404,))
def me(ctx: RequestContext) -> accounts.Me:
    """The signed-in user's profile."""
    return accounts.me(ctx.user)


app = create_app(__name__, [router])

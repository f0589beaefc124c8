"""Auth: the signed-in user, and the dev/test sign-in (absent in production)."""

from __future__ import annotations

from shared import accounts, audit, ratelimit
from shared.pagination import Page
from shared.web import RequestContext, Router, create_app

router = Router("auth")


def _email(ctx: RequestContext, body: accounts.SignIn) -> str:
    return body.email


@router.post("/api/dev/sign-in", auth="none", body=accounts.SignIn, response=accounts.SignedIn, errors=(429,),
             dev_only=True, rate_limit=ratelimit.RateLimit("dev-sign-in", ratelimit.DEV_SIGN_IN, key=_email))
def dev_sign_in(ctx: RequestContext, body: accounts.SignIn) -> accounts.SignedIn:
    """Mint a Supabase-shaped access token for an email (dev and test modes only)."""
    return accounts.dev_sign_in(body)


@router.get("/api/me", response=accounts.Me, errors=(404,))
def me(ctx: RequestContext) -> accounts.Me:
    """The signed-in user's profile."""
    return accounts.me(ctx.user)


@router.patch("/api/me", body=accounts.ProfileUpdate, response=accounts.Me, errors=(404,))
def update_me(ctx: RequestContext, body: accounts.ProfileUpdate) -> accounts.Me:
    """Change your display name (plain text), avatar (an http(s) URL) or default model."""
    return accounts.update_profile(ctx.user, body)


@router.delete("/api/me", response=accounts.AccountDeletion, status=202, errors=(404, 503))
def delete_me(ctx: RequestContext) -> accounts.AccountDeletion:
    """Delete your account: instances destroyed, keys and links revoked, profile anonymised (money records
    stay, detached from you). Your access token stops working at once."""
    return accounts.delete_account(ctx.user)


@router.get("/api/me/audit", query=audit.AuditQuery, response=Page[audit.AuditEntry])
def my_audit(ctx: RequestContext, query: audit.AuditQuery) -> Page[audit.AuditEntry]:
    """Security-relevant actions on your account (keys, SSH, hires and destroys, plan changes, …), newest first."""
    return audit.my_audit(ctx.user, query)


app = create_app(__name__, [router])

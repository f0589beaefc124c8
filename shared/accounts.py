"""Accounts: the signed-in user's profile, and the dev/test sign-in that stands in for Supabase Auth."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.config import get_settings
from shared.data import get_db
from shared.problems import not_found

if TYPE_CHECKING:
    from shared.auth import User


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    role: Literal["user", "creator", "admin"] | None = None
    display_name: str | None = Field(default=None, min_length=1, max_length=80)


class SignedIn(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    user_id: UUID


class Me(BaseModel):
    id: UUID
    email: str | None
    display_name: str
    avatar_url: str | None
    role: str
    plan: str
    plan_status: str
    default_model: str | None
    created_at: datetime


def dev_sign_in(body: SignIn) -> SignedIn:
    from shared.auth import TOKEN_TTL_S, mint_access_token  # jwt + cryptography: only when minting

    settings = get_settings()
    email = body.email.lower()
    with get_db().service() as tx:
        user_id = str(tx.scalar("dev_upsert_user", email=email, display_name=body.display_name))
        if body.role is not None:
            tx.execute("set_user_role", role=body.role, user_id=user_id)
    token = mint_access_token(user_id, email, settings)
    return SignedIn(access_token=token, expires_in=TOKEN_TTL_S, user_id=UUID(user_id))


def me(user: User) -> Me:
    with get_db().user(user.claims) as tx:
        row = tx.one("my_profile")
    if row is None:
        raise not_found("profile")
    return Me(email=user.email, **row)

"""Accounts: the signed-in user's profile, and the dev/test sign-in that stands in for Supabase Auth."""

from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import ConfigDict, Field

from shared.config import get_settings
from shared.data import get_db
from shared.models import Model
from shared.problems import Problem, not_found
from shared.text import HttpUrl, NormalizedEmail, PlainName

if TYPE_CHECKING:
    from shared.auth import User


class SignIn(Model):
    model_config = ConfigDict(extra="forbid")
    email: NormalizedEmail = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254,
                                   description="normalised (NFKC, case-folded) before anything uses it")
    role: Literal["user", "creator", "admin"] | None = None
    display_name: PlainName | None = Field(default=None, min_length=1, max_length=80)


class ProfileUpdate(Model):
    """Fields left out stay as they are; `avatar_url: null` removes the avatar."""

    model_config = ConfigDict(extra="forbid")
    display_name: PlainName | None = Field(default=None, min_length=1, max_length=80)
    avatar_url: HttpUrl | None = Field(default=None, max_length=500, description="an http(s) URL")
    default_model: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:/@-]+$",
                                      description="a model id, e.g. `anthropic/claude-sonnet-4`")


class SignedIn(Model):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    user_id: UUID


class Me(Model):
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
    email = body.email  # already in its one normal form (SignIn), which is what auth.users stores
    with get_db().service() as tx:
        user_id = str(tx.scalar("dev_upsert_user", email=email, display_name=body.display_name))
        if body.role is not None:
            tx.execute("set_user_role", role=body.role, user_id=user_id)
    token = mint_access_token(user_id, email, settings)
    return SignedIn(access_token=token, expires_in=TOKEN_TTL_S, user_id=UUID(user_id))


def me(user: "User") -> Me:
    with get_db().user(user.claims) as tx:
        row = tx.one("my_profile")
    if row is None:
        raise not_found("profile")
    return Me(email=user.email, **row)


def update_profile(user: "User", body: ProfileUpdate) -> Me:
    given = body.model_fields_set
    if "display_name" in given and body.display_name is None:
        raise Problem(422, "Unprocessable Content", "A display name cannot be removed; send a new one.",
                      code="validation-failed")
    with get_db().user(user.claims) as tx:
        tx.execute("profile_update", set_display_name="display_name" in given, display_name=body.display_name,
                   set_avatar_url="avatar_url" in given, avatar_url=body.avatar_url,
                   set_default_model="default_model" in given, default_model=body.default_model)
        row = tx.one("my_profile")
    if row is None:
        raise not_found("profile")
    return Me(email=user.email, **row)


class AccountDeletion(Model):
    user_id: UUID
    deleted_at: datetime
    instances_destroying: list[UUID] = Field(description="Instances whose destroy jobs were deferred.")


def delete_account(user: "User") -> AccountDeletion:
    """`DELETE /api/me`: everything about the person goes, the money records stay (ARCHITECTURE §3).

    Order: the Stripe subscription is cancelled first (idempotently), so a failure there leaves the
    account as it was and the user can try again; then one transaction moves every live instance to
    `destroying` and defers its destroy job, erases the account (`private.erase_account`: Vault
    secrets, BYOK keys, SSH configs, proxy tokens revoked, relay links, personal content, the profile
    and auth user anonymised) and records `account.deleted`. The ledger — credit_transactions,
    usage_events, creator_earnings, payouts — keeps its rows under the same user id, which from then
    on names a tombstone profile without personal data. The access token stops working at once
    (`shared.security.account_gate`)."""
    from shared import audit, jobs
    from shared.lifecycle.states import DESTROY
    from shared.lifecycle.store import transition_in

    with get_db().service() as tx:
        profile = tx.one("account_lock", user_id=user.id)
    if profile is None or profile["deleted_at"] is not None:
        raise not_found("account")
    if profile["stripe_subscription_id"] and profile["plan_status"] not in ("canceled", "expired"):
        _cancel_subscription(str(profile["stripe_subscription_id"]), user.id)
    destroying: list[str] = []
    with get_db().service() as tx:
        profile = tx.one("account_lock", user_id=user.id)
        if profile is None or profile["deleted_at"] is not None:
            raise not_found("account")  # a concurrent deletion won
        for row in tx.all("account_live_instances", user_id=user.id):
            instance_id = str(row["id"])
            transition_in(tx, instance_id, DESTROY)  # already `destroying`: its job is waiting or running
            jobs.defer(tx, jobs.DESTROY_INSTANCE, instance_id=instance_id)
            destroying.append(instance_id)
        erased = tx.scalar("account_erase", user_id=user.id) or {}
        audit.record(tx, user.id, "account.deleted", f"user:{user.id}", {"instances": len(destroying), **erased})
        deleted_at = tx.scalar("account_deleted_at", user_id=user.id)
    return AccountDeletion(user_id=UUID(user.id), deleted_at=deleted_at,
                           instances_destroying=[UUID(i) for i in destroying])


def _cancel_subscription(subscription_id: str, user_id: str) -> None:
    import stripe

    from shared.billing.stripe_client import stripe_client

    try:
        stripe_client().v1.subscriptions.cancel(subscription_id,
                                                options={"idempotency_key": f"account-delete:{user_id}"})
    except stripe.InvalidRequestError:
        pass  # already cancelled or gone at Stripe: nothing left to stop
    except stripe.StripeError:
        raise Problem(503, "Service Unavailable", "Your subscription could not be cancelled right now; nothing "
                      "was deleted. Try again in a minute.", code="billing-unavailable") from None

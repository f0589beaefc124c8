"""Accounts for operators: who a reference names, and one account at a glance."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from shared.admin import AdminError, audited
from shared.data import Tx, get_db


class UserRef(BaseModel):
    id: UUID
    email: str | None


def find_user(tx: Tx, ref: str) -> UserRef:
    """The user `ref` names (an id, or an e-mail in any case); `AdminError` if none or several."""
    rows = tx.all("admin_find_user", ref=ref.strip())
    if not rows:
        raise AdminError(f"no user {ref!r}")
    if len(rows) > 1:
        raise AdminError(f"{ref!r} names more than one user; use the id")
    return UserRef.model_validate(rows[0])


class Profile(BaseModel):
    id: UUID
    email: str | None
    display_name: str
    role: str
    plan: str
    plan_status: str
    plan_period_end: datetime | None
    stripe_customer_id: str | None
    connect_account_id: str | None
    created_at: datetime
    deleted_at: datetime | None


class Balance(BaseModel):
    subscription_credits: int
    subscription_expires_at: datetime | None
    topup_credits: int


class InstanceLine(BaseModel):
    id: UUID
    agent: str
    status: str
    provision_stage: str
    fly_app: str | None
    region: str | None
    error_message: str | None
    last_active_at: datetime
    created_at: datetime


class LedgerLine(BaseModel):
    id: int
    kind: str
    subscription_delta: int
    topup_delta: int
    shortfall: int
    subscription_after: int
    topup_after: int
    reference: dict[str, Any]
    created_at: datetime


class Account(BaseModel):
    profile: Profile
    balance: Balance
    instances: list[InstanceLine]
    recent_ledger: list[LedgerLine]


def account(ref: str, *, ledger_limit: int = 10) -> Account:
    with get_db().service() as tx:
        user = find_user(tx, ref)
        row = tx.one("admin_account_profile", user_id=str(user.id))
        if row is None:
            raise AdminError(f"user {user.id} has no profile")
        out = Account(
            profile=Profile.model_validate(row),
            balance=Balance.model_validate(row),
            instances=[InstanceLine.model_validate(r) for r in tx.all("admin_account_instances", user_id=str(user.id))],
            recent_ledger=[LedgerLine.model_validate(r)
                           for r in tx.all("admin_account_ledger", user_id=str(user.id), limit=ledger_limit)],
        )
        audited(tx, str(user.id), "account_viewed", str(user.id))
    return out

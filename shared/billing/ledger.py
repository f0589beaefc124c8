"""The credit ledger seen from Python: movements (thin calls into the SQL functions that move money),
the 402 rule, and the read models behind `GET /api/credits` and `GET /api/usage`.

Every movement takes an idempotency key; calling it again with the same key returns the entry
written the first time (`duplicate=True`) and changes nothing.
"""

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import ConfigDict, Field, field_validator

from shared.auth import User
from shared.data import Tx, acting_as, get_db
from shared.models import Model
from shared.pagination import Page, PageQuery, decode_cursor, encode_cursor
from shared.problems import Problem, bad_request, not_found, payment_required


class Entry(Model):
    """What a movement wrote (or found, when its key was used before)."""

    id: int
    kind: str
    subscription_delta: int
    topup_delta: int
    shortfall: int
    subscription_after: int
    topup_after: int
    duplicate: bool


def _entries(rows: list[dict[str, Any]]) -> list[Entry]:
    return [Entry.model_validate(r) for r in rows if r.get("id") is not None]


def debit(tx: Tx, user_id: str, amount: int, key: str, *, turn_id: str | None = None,
          reference: dict[str, Any] | None = None) -> Entry:
    row = tx.one("ledger_debit", user_id=user_id, amount=amount, key=key, turn_id=turn_id,
                 reference=json.dumps(reference or {}, default=str))
    return Entry.model_validate(row)


def charge_turn(tx: Tx, user_id: str, turn_id: str, amount: int, key: str, reference: dict[str, Any]) -> Entry:
    """A turn's settlement debit: taken from the turn's own hold and from credits no other turn holds;
    the rest is recorded as shortfall (migration 20261125090100)."""
    row = tx.one("ledger_charge_turn", user_id=user_id, turn_id=turn_id, amount=amount, key=key,
                 reference=json.dumps(reference, default=str))
    return Entry.model_validate(row)


def topup(tx: Tx, user_id: str, credits: int, key: str, reference: dict[str, Any]) -> Entry:
    row = tx.one("ledger_topup", user_id=user_id, credits=credits, key=key,
                 reference=json.dumps(reference, default=str))
    return Entry.model_validate(row)


def grant_subscription(tx: Tx, user_id: str, *, credits: int, rollover_cap: int, period_start: datetime,
                       period_end: datetime, key: str, reference: dict[str, Any]) -> list[Entry]:
    return _entries(tx.all("ledger_grant_subscription", user_id=user_id, credits=credits, rollover_cap=rollover_cap,
                           period_start=period_start, period_end=period_end, key=key,
                           reference=json.dumps(reference, default=str)))


def clawback_topup(tx: Tx, user_id: str, payment_intent: str, target: int, reference: dict[str, Any]) -> list[Entry]:
    return _entries(tx.all("ledger_clawback_topup", user_id=user_id, payment_intent=payment_intent, target=target,
                           reference=json.dumps(reference, default=str)))


def expire_stale(tx: Tx, *, grace: timedelta = timedelta(hours=48), limit: int = 1000) -> int:
    """Writes expiry entries for subscription credits expired longer than `grace` ago. The grace lets
    a renewal paid after the period ended still roll leftovers over."""
    return int(tx.scalar("ledger_expire_stale", grace_s=grace.total_seconds(), limit=limit) or 0)


# --- the 402 rule and holds ------------------------------------------------------------------------

def metered_allowance() -> int:
    """Credits a turn holds for its metered usage (`BILLING_HOLD_METERED_CREDITS`, default 1: the
    "+1" of §5b's 402 rule). Raising it makes shortfalls rarer and the 402 threshold higher."""
    from shared.config import get_settings

    return get_settings().BILLING_HOLD_METERED_CREDITS


def hold_size(agent_price: int) -> int:
    """What a turn holds: the agent's price part of it plus the metered allowance."""
    return max(agent_price, 0) + metered_allowance()


def available_credits(user_id: str, tx: Tx | None = None) -> int:
    """Spendable now, less what the user's turns in progress hold."""
    if tx is not None:
        return int(tx.scalar("credits_available", user_id=user_id) or 0)
    with get_db().service() as own:
        return int(own.scalar("credits_available", user_id=user_id) or 0)


def _insufficient(needed: int, available: int) -> Problem:
    return payment_required(
        f"This needs at least {needed} credits and {available} are available. Top up or upgrade your plan.",
        available=available, required=needed,
    )


def payment_required_for(needed: int, available: int) -> Problem:
    """The 402 of a hold that `available` credits do not cover (for holds placed in SQL elsewhere)."""
    return _insufficient(needed, available)


def require_credits(user_id: str, agent_price: int, *, tx: Tx | None = None) -> int:
    """The credit check before a turn (chat and relays): 402 when the available credits are below
    what the turn would hold (the agent's price + the metered allowance). Returns what is available.
    A check only: `reserve_turn` is what makes concurrent turns unable to outrun the balance."""
    available = available_credits(user_id, tx)
    needed = hold_size(agent_price)
    if available < needed:
        raise _insufficient(needed, available)
    return available


def reserve_turn(tx: Tx, user_id: str, turn_id: str, agent_price: int) -> int:
    """Places the hold of a turn just created in `tx` (the agent's price part + the metered
    allowance) under the balance lock, or raises 402 — the caller's transaction then rolls back and
    the turn never existed. Returns the credits held."""
    return queue_turn_hold(tx, user_id, turn_id, agent_price)()


def queue_turn_hold(tx: Tx, user_id: str, turn_id: str, agent_price: int) -> Callable[[], int]:
    """`reserve_turn` in two steps, for a pipeline (`Tx.queue`): queues the hold, and returns what
    reads its result once the pipeline has run — the credits held, or the 402."""
    needed = hold_size(agent_price)
    cur = tx.queue("ledger_hold", user_id=user_id, turn_id=turn_id, credits=needed, agent_credits=max(agent_price, 0))

    def result() -> int:
        row = cur.fetchone()
        assert row is not None
        if not row["held"]:
            raise _insufficient(needed, int(row["available"]))
        return needed

    return result


# --- GET /api/credits ------------------------------------------------------------------------------

class Balance(Model):
    available: int = Field(description="spendable now: live subscription credits + top-up credits − held")
    held: int = Field(default=0, description="reserved by turns in progress until they are settled")
    subscription_credits: int = Field(description="subscription credits (0 once expired)")
    subscription_expires_at: datetime | None
    topup_credits: int = Field(description="top-up credits; they never expire")
    plan: str
    plan_status: str
    plan_period_end: datetime | None


class LedgerItem(Model):
    id: int
    kind: str
    subscription_delta: int
    topup_delta: int
    shortfall: int
    subscription_after: int
    topup_after: int
    turn_id: UUID | None
    reference: dict[str, Any]
    created_at: datetime


class Earnings(Model):
    unpaid_credits: int
    paid_credits: int
    turns: int


class Credits(Model):
    balance: Balance
    earnings: Earnings | None = Field(default=None, description="creators only: what their agents earned")
    ledger: Page[LedgerItem]


def credits(user: User, query: PageQuery) -> Credits:
    after = decode_cursor(query.cursor, {"id": int})
    before_id = after["id"] if after else None
    if before_id is not None and not isinstance(before_id, int):
        raise bad_request("The cursor is not valid.", code="invalid-cursor")
    with acting_as(user) as tx:
        b = tx.one("credit_balance_mine")
        if b is None:
            raise not_found("profile")
        rows = tx.all("credit_ledger_page", before_id=before_id, limit=query.limit + 1)
        earnings = tx.one("earnings_summary_mine") if b["role"] in ("creator", "admin") else None
    expired = bool(b["subscription_expired"])
    sub = 0 if expired else int(b["subscription_credits"] or 0)
    top = int(b["topup_credits"] or 0)
    held = int(b["held"] or 0)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return Credits(
        balance=Balance(available=max(sub + top - held, 0), held=held, subscription_credits=sub,
                        subscription_expires_at=b["subscription_expires_at"], topup_credits=top,
                        plan=b["plan"], plan_status=b["plan_status"], plan_period_end=b["plan_period_end"]),
        earnings=Earnings.model_validate(earnings) if earnings is not None else None,
        ledger=Page[LedgerItem](items=[LedgerItem.model_validate(r) for r in rows],
                                next_cursor=encode_cursor({"id": rows[-1]["id"]}) if more and rows else None),
    )


# --- GET /api/usage --------------------------------------------------------------------------------

MAX_USAGE_DAYS = 366


class UsageQuery(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: date | None = Field(default=None, alias="from", description="first day (UTC), default 30 days ago")
    to: date | None = Field(default=None, description="last day (UTC, inclusive), default today")

    @field_validator("from_", "to")
    @classmethod
    def _sane(cls, v: date | None) -> date | None:
        # Keeps date arithmetic (to + 1 day) away from the calendar's edges.
        if v is not None and not date(2000, 1, 1) <= v <= date(2100, 1, 1):
            raise ValueError("dates must be between 2000-01-01 and 2100-01-01")
        return v


class UsageItem(Model):
    day: date
    agent_id: UUID | None
    agent_slug: str | None
    agent_name: str | None
    turns: int
    model_calls: int
    input_tokens: int
    output_tokens: int
    compute_seconds: float
    credits: int
    shortfall: int



class Usage(Model):
    model_config = ConfigDict(populate_by_name=True)
    from_: date = Field(alias="from")
    to: date
    items: list[UsageItem]
    next_cursor: str | None = Field(default=None, description="always null: the date range bounds the report")


def usage(user: User, query: UsageQuery) -> Usage:
    today = datetime.now(UTC).date()
    to = query.to or today
    first = query.from_ or (to - timedelta(days=29))
    if first > to:
        raise bad_request("`from` must not be after `to`.", code="invalid-range")
    if (to - first).days >= MAX_USAGE_DAYS:
        raise bad_request(f"Ask for at most {MAX_USAGE_DAYS} days at a time.", code="invalid-range")
    start = datetime.combine(first, datetime.min.time(), UTC)
    end = datetime.combine(to + timedelta(days=1), datetime.min.time(), UTC)
    with acting_as(user) as tx:
        rows = tx.all("usage_by_agent_day", from_ts=start, to_ts=end)
    return Usage(from_=first, to=to, items=[UsageItem.model_validate(r) for r in rows])

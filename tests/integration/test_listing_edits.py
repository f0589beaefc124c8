"""Listings (issue 9): a creator edits only their own drafts, directly as PostgREST would let them; a
published listing changes only through a new version (written as service_role); prices are bounded."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest


def _claims(user: Any) -> dict[str, str]:
    return {"sub": user.id, "role": "authenticated", "aud": "authenticated"}


def _listing(db: Any, creator_id: str, status: str) -> str:
    with db.service() as tx:
        return str(tx.sql(
            "insert into agents (creator_id, slug, name, category, status, published_at, pricing_model, credits_price)"
            " values (%(c)s, %(s)s, 'Original', 'test', %(st)s::agent_status,"
            " case when %(st)s = 'published' then now() end, 'per_task', 4) returning id",
            {"c": creator_id, "s": f"edit-{uuid.uuid4().hex[:10]}", "st": status}).fetchone()["id"])


def _row(db: Any, agent_id: str) -> dict[str, Any]:
    with db.service() as tx:
        return tx.sql("select name, credits_price, status::text from agents where id = %(a)s", {"a": agent_id}).fetchone()


def _update(db: Any, user: Any, sql: str, agent_id: str) -> int | str:
    """Rows changed, or 'denied' for a permission error."""
    try:
        with db.user(_claims(user)) as tx:
            return tx.sql(sql, {"a": agent_id}).rowcount
    except psycopg.errors.InsufficientPrivilege:
        return "denied"


@pytest.mark.parametrize("status", ["published", "review", "rejected", "archived"])
def test_a_creator_cannot_reprice_or_rename_a_listing_that_left_draft(db, make_user, status):
    creator = make_user("creator")
    agent = _listing(db, creator.id, status)
    for sql in ("update public.agents set credits_price = 100000 where id = %(a)s",
                "update public.agents set credits_price = 3 where id = %(a)s",
                "update public.agents set name = 'Renamed' where id = %(a)s",
                "update public.agents set pricing_model = 'free', credits_price = 0 where id = %(a)s"):
        assert _update(db, creator, sql, agent) in (0, "denied"), sql
    assert _row(db, agent) == {"name": "Original", "credits_price": 4, "status": status}


def test_a_creator_edits_their_own_draft_within_bounds(db, make_user):
    creator = make_user("creator")
    agent = _listing(db, creator.id, "draft")
    assert _update(db, creator, "update public.agents set credits_price = 7, name = 'Better' where id = %(a)s",
                   agent) == 1
    assert _update(db, creator, "update public.agents set credits_price = 10000 where id = %(a)s", agent) == 1
    assert _row(db, agent) == {"name": "Better", "credits_price": 10000, "status": "draft"}
    with pytest.raises(psycopg.errors.CheckViolation):
        _update(db, creator, "update public.agents set credits_price = 10001 where id = %(a)s", agent)
    with pytest.raises(psycopg.errors.CheckViolation):
        _update(db, creator, "update public.agents set credits_price = -1 where id = %(a)s", agent)
    # Publishing is the pipeline's, not a column a client may set.
    assert _update(db, creator, "update public.agents set status = 'published' where id = %(a)s", agent) == "denied"
    assert _row(db, agent)["status"] == "draft"


def test_another_creator_cannot_edit_a_draft(db, make_user):
    owner, other = make_user("creator"), make_user("creator")
    agent = _listing(db, owner.id, "draft")
    assert _update(db, other, "update public.agents set credits_price = 9 where id = %(a)s", agent) in (0, "denied")
    assert _row(db, agent)["credits_price"] == 4


def test_the_price_bound_holds_for_the_server_too(db, make_user):
    creator = make_user("creator")
    agent = _listing(db, creator.id, "published")
    with pytest.raises(psycopg.errors.CheckViolation), db.service() as tx:
        tx.sql("update agents set credits_price = 100000 where id = %(a)s", {"a": agent})
    with db.service() as tx:  # a new version's price, within bounds, is the one way it changes
        assert tx.sql("update agents set credits_price = 6 where id = %(a)s", {"a": agent}).rowcount == 1
    assert _row(db, agent)["credits_price"] == 6

"""Rows for marketplace and workspace tests: creators, published listings, hires (instances), sessions.

Written as the service role, the way the publish pipeline and the lifecycle write them; the tests then
go through HTTP as users and anon.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


def token() -> str:
    """A word no other row in the shared test database carries (search tests filter on it)."""
    return "zq" + uuid.uuid4().hex[:10]


def new_creator(db: Any, name: str = "Test Creator") -> str:
    with db.service() as tx:
        uid = tx.sql("insert into auth.users (email, raw_user_meta_data) values (%(e)s, jsonb_build_object("
                     "'display_name', %(n)s::text)) returning id",
                     {"e": f"creator-{uuid.uuid4().hex[:12]}@test.openagents.dev", "n": name}).fetchone()["id"]
        tx.sql("update profiles set role = 'creator' where id = %(u)s", {"u": uid})
    return str(uid)


@dataclass
class Listing:
    id: str
    slug: str
    name: str


@dataclass
class ListingSpec:
    name: str
    category: str
    tags: list[str] = field(default_factory=list)
    tagline: str = ""
    description: str = ""
    hires: int = 0
    rating: str | None = None  # set the stats directly (sort tests); reviews keep them by trigger
    reviews: int = 0
    age_days: float = 0
    pricing: str = "free"
    price: int = 0
    status: str = "published"


def publish(db: Any, creator_id: str, spec: ListingSpec) -> Listing:
    slug = f"t-{uuid.uuid4().hex[:12]}"
    with db.service() as tx:
        row = tx.sql(
            "insert into agents (creator_id, slug, name, tagline, description, category, tags, status, pricing_model,"
            " credits_price, hires_count, relays, models, published_at)"
            " values (%(c)s, %(s)s, %(n)s, %(tl)s, %(d)s, %(cat)s, %(tags)s, %(st)s::agent_status, %(pm)s::pricing_model,"
            " %(p)s, %(h)s, '{telegram,slack}', '{openai/gpt-5-mini}',"
            " case when %(st)s = 'published' then now() - make_interval(secs => %(age)s) end)"
            " returning id",
            {"c": creator_id, "s": slug, "n": spec.name, "tl": spec.tagline, "d": spec.description,
             "cat": spec.category, "tags": spec.tags, "st": spec.status, "pm": spec.pricing, "p": spec.price,
             "h": spec.hires, "age": spec.age_days * 86400}).fetchone()
        if spec.rating is not None:
            tx.sql("update agents set rating_avg = %(r)s::numeric, reviews_count = %(n)s where id = %(a)s",
                   {"r": spec.rating, "n": spec.reviews, "a": row["id"]})
    return Listing(str(row["id"]), slug, spec.name)


def hire(db: Any, user_id: str, agent_id: str, status: str = "running", *, last_active_minutes: float = 0) -> str:
    """An instance of the agent for the user (what a hire leaves behind), in the given status."""
    with db.service() as tx:
        return str(tx.sql(
            "insert into agent_instances (user_id, agent_id, status, provision_stage, last_active_at, destroyed_at)"
            " values (%(u)s, %(a)s, %(s)s::instance_status, 'ready', now() - make_interval(secs => %(m)s),"
            " case when %(s)s = 'destroyed' then now() end) returning id",
            {"u": user_id, "a": agent_id, "s": status, "m": last_active_minutes * 60}).fetchone()["id"])


def session(db: Any, user_id: str, instance_id: str, title: str, minutes_ago: float) -> str:
    with db.service() as tx:
        return str(tx.sql(
            "insert into sessions (user_id, instance_id, title, last_message_at)"
            " values (%(u)s, %(i)s, %(t)s, now() - make_interval(secs => %(m)s)) returning id",
            {"u": user_id, "i": instance_id, "t": title, "m": minutes_ago * 60}).fetchone()["id"])


def notify(db: Any, user_id: str, title: str, *, read: bool = False) -> str:
    with db.service() as tx:
        return str(tx.sql(
            "insert into notifications (user_id, kind, title, read_at) values (%(u)s, 'test', %(t)s,"
            " case when %(r)s then now() end) returning id", {"u": user_id, "t": title, "r": read}).fetchone()["id"])


def recount(db: Any, agent_id: str) -> dict[str, Any]:
    """The rating stats recomputed from the reviews, beside the stored ones."""
    with db.service() as tx:
        return tx.sql(
            "select a.reviews_count, a.rating_avg, a.rating_counts,"
            " (select count(*) from agent_reviews r where r.agent_id = a.id)::int as n,"
            " coalesce(round((select avg(rating) from agent_reviews r where r.agent_id = a.id), 2), 0) as avg,"
            " array(select count(r.id)::int from generate_series(1, 5) k"
            "       left join agent_reviews r on r.agent_id = a.id and r.rating = k group by k order by k) as counts"
            " from agents a where a.id = %(a)s", {"a": agent_id}).fetchone()

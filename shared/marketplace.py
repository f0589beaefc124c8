"""Marketplace listings: search, filter, sort and read agents (anon or signed in)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.data import acting_as
from shared.pagination import Page, decode_cursor, page_of
from shared.problems import not_found

Sort = Literal["relevance", "popular", "rating", "new"]


class AgentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: str | None = Field(default=None, min_length=1, max_length=200, description="Full-text search.")
    category: str | None = Field(default=None, pattern=r"^[a-z0-9-]{1,40}$")
    tag: str | None = Field(default=None, min_length=1, max_length=40)
    sort: Sort | None = Field(default=None, description="Default: relevance with `q`, else popular.")
    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=20, ge=1, le=100)


class AgentSummary(BaseModel):
    id: UUID
    slug: str
    name: str
    tagline: str
    category: str
    tags: list[str]
    pricing_model: str
    credits_price: int
    hires_count: int
    rating_avg: Decimal
    reviews_count: int
    creator_name: str | None
    published_at: datetime | None


class AgentDetail(AgentSummary):
    description: str
    status: str
    memory_mb: int
    relays: list[str]
    models: list[str]
    current_version: str | None
    openclaw_version: str | None


def list_agents(user: Any, query: AgentQuery) -> Page[AgentSummary]:
    sort = query.sort or ("relevance" if query.q else "popular")
    if sort == "relevance" and not query.q:
        sort = "popular"
    after = decode_cursor(query.cursor, ("sort_key", "id"))
    with acting_as(user) as tx:
        rows = tx.all("agents_list", q=query.q, category=query.category, tag=query.tag, sort=sort,
                      after_key=after["sort_key"] if after else None, after_id=after["id"] if after else None,
                      limit=query.limit + 1)
    return Page[AgentSummary](**page_of(rows, query.limit, ("sort_key", "id"), AgentSummary))


def get_agent(user: Any, slug: str) -> AgentDetail:
    with acting_as(user) as tx:
        row = tx.one("agent_by_slug", slug=slug)
    if row is None:
        raise not_found("agent")
    return AgentDetail.model_validate(row)

"""Marketplace listings: search, filter, sort and read agents, and browse collections (anon or signed in).

Search is Postgres full text over the listing's name (weight A), tagline and tags (B), category and
description (C); an exact name match ranks first. Filters combine: `q`, `category` and any number of
`tag` values (a listing must carry every one). Sorts (`sort=`):

    relevance   rank for `q` (the default with `q`; without `q` it falls back to popular)
    popular     most hired (the default without `q`)
    rating      top rated: average rating, then number of reviews
    new         newest: most recently published

Pages are keyset pages over `(sort key…, id)`, so rows inserted while a client pages neither repeat
nor hide the rows it has not seen yet. A cursor records the sort and a fingerprint of the filters it
was made for; presenting it with other ones is a 400 (`cursor-mismatch`), as is a malformed or
tampered cursor (`invalid-cursor`). Cursors are positions, not capabilities: a hand-made one that is
well formed only selects where a page starts.
"""

import hashlib
import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field

from shared.auth import User
from shared.data import Tx, acting_as
from shared.models import Model
from shared.pagination import Page, PageQuery, decode_cursor, encode_cursor
from shared.platform.published import CurrentVersion, current_version
from shared.problems import bad_request, not_found

Sort = Literal["relevance", "popular", "rating", "new"]
Tag = Annotated[str, Field(min_length=1, max_length=40)]
MAX_TAGS = 10


class AgentQuery(Model):
    model_config = ConfigDict(extra="forbid")
    q: str | None = Field(default=None, min_length=1, max_length=200,
                          description="Full-text search (web search syntax: quotes, `or`, `-word`). "
                                      "An exact name match ranks first.")
    category: str | None = Field(default=None, max_length=40, pattern=r"^[a-z0-9-]{1,40}$")
    tag: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS,
                           description="Repeat for several tags: a listing must carry all of them.")
    sort: Sort | None = Field(default=None,
                              description="relevance (for `q`) | popular (most hired) | rating (top rated) | "
                                          "new (newest). Default: relevance with `q`, else popular.")
    cursor: str | None = Field(default=None, max_length=500,
                               description="`next_cursor` of the previous page, with the same q, category, "
                                           "tags and sort.")
    limit: int = Field(default=20, ge=1, le=100)


class AgentSummary(Model):
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
    rating_counts: list[int] = Field(description="Reviews with 1, 2, 3, 4 and 5 stars.")
    status: str
    memory_mb: int
    relays: list[str]
    models: list[str]
    current_version: CurrentVersion | None = Field(
        description="The published version: number, changelog and its signed skills (§5c values).")
    openclaw_version: str | None


# Each sort's keyset: the cursor's keys (row columns) and their types, in order (private.discover).
_KEYSETS: dict[str, dict[str, type]] = {
    "relevance": {"rank": float, "hires_count": int, "id": UUID},
    "popular": {"hires_count": int, "id": UUID},
    "rating": {"rating_avg": str, "reviews_count": int, "id": UUID},
    "new": {"published_at": datetime, "id": UUID},
}


def effective_sort(query: AgentQuery) -> str:
    sort = query.sort or ("relevance" if query.q else "popular")
    return "popular" if sort == "relevance" and not query.q else sort


def _tags(query: AgentQuery) -> list[str]:
    return sorted(set(query.tag))


def _fingerprint(query: AgentQuery) -> str:
    """Which result set a cursor belongs to: the filters (the sort is stored beside it)."""
    raw = json.dumps([query.q, query.category, _tags(query)], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _cursor_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    return value


def _after(query: AgentQuery, sort: str) -> dict[str, Any] | None:
    """The keyset position the cursor holds (None on the first page), checked and JSON-ready."""
    if not query.cursor:
        return None
    keys = _KEYSETS[sort]
    values = decode_cursor(query.cursor, {"sort": str, "filters": str, **keys})  # bad shape or type: 400
    assert values is not None
    if values["sort"] != sort or values["filters"] != _fingerprint(query):
        raise bad_request("This cursor belongs to another search (sort or filters changed); "
                          "start again without it.", code="cursor-mismatch")
    if "rating_avg" in values:
        try:
            rating = Decimal(values["rating_avg"])
        except InvalidOperation:
            raise bad_request("The cursor is not valid.", code="invalid-cursor") from None
        if not rating.is_finite() or not 0 <= rating <= 5:
            raise bad_request("The cursor is not valid.", code="invalid-cursor")
    return {k: _cursor_value(values[k]) for k in keys}


def search(tx: Tx, query: AgentQuery) -> Page[AgentSummary]:
    """One page of discovery in `tx` (any role: the API acts as the caller, or anon)."""
    sort = effective_sort(query)
    after = _after(query, sort)
    rows = tx.all("agents_discover", sort=sort, q=query.q, category=query.category, tags=_tags(query),
                  after=json.dumps(after) if after is not None else None, limit=query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = None
    if more and rows:
        last = rows[-1]
        cursor = encode_cursor({"sort": sort, "filters": _fingerprint(query),
                                **{k: _cursor_value(last[k]) for k in _KEYSETS[sort]}})
    return Page[AgentSummary](items=[AgentSummary.model_validate(r) for r in rows], next_cursor=cursor)


def list_agents(user: User | None, query: AgentQuery) -> Page[AgentSummary]:
    with acting_as(user) as tx:
        return search(tx, query)


def get_agent(user: User | None, slug: str) -> AgentDetail:
    with acting_as(user) as tx:
        row = tx.one("agent_by_slug", slug=slug)
        if row is None:
            raise not_found("agent")
        return AgentDetail.model_validate({**row, "current_version": current_version(tx, row)})


# --- collections ----------------------------------------------------------------------------------

COLLECTION_AGENTS = 50  # agents shown per collection


class CollectionQuery(PageQuery):
    featured: bool | None = Field(default=None, description="Only featured (true) or only curated (false) lists.")


class Collection(Model):
    id: UUID
    slug: str
    title: str
    description: str
    featured: bool
    position: int
    agents: list[AgentSummary] = Field(description=f"Its published agents in order (at most {COLLECTION_AGENTS}).")


_COLLECTION_KEYS: dict[str, type] = {"featured_rank": int, "position": int, "id": UUID}


def list_collections(user: User | None, query: CollectionQuery) -> Page[Collection]:
    """Featured collections first, then curated ones, each by position."""
    after = decode_cursor(query.cursor, _COLLECTION_KEYS)
    with acting_as(user) as tx:
        rows = tx.all("collections_page", featured=query.featured, agents_limit=COLLECTION_AGENTS,
                      after_rank=after["featured_rank"] if after else None,
                      after_position=after["position"] if after else None,
                      after_id=after["id"] if after else None, limit=query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = encode_cursor({k: _cursor_value(rows[-1][k]) for k in _COLLECTION_KEYS}) if more and rows else None
    return Page[Collection](items=[Collection.model_validate(r) for r in rows], next_cursor=cursor)


"""Marketplace: public listings, for anon and signed-in users."""

from __future__ import annotations

from shared import marketplace
from shared.pagination import Page
from shared.web import RequestContext, Router, create_app

router = Router("marketplace")


@router.get("/api/agents", auth="optional", query=marketplace.AgentQuery,
            response=Page[marketplace.AgentSummary])
def list_agents(ctx: RequestContext, query: marketplace.AgentQuery) -> Page[marketplace.AgentSummary]:
    """Search and browse published agents."""
    return marketplace.list_agents(ctx.user, query)


@router.get("/api/agents/{slug}", auth="optional", response=marketplace.AgentDetail, errors=(404,))
def get_agent(ctx: RequestContext, slug: str) -> marketplace.AgentDetail:
    """One listing (published, or your own draft)."""
    return marketplace.get_agent(ctx.user, slug)


app = create_app(__name__, [router])

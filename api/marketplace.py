"""Marketplace: discovery, listings, collections, agent cards and reviews (anon or signed in)."""

from __future__ import annotations

from flask import Response

from shared import agent_card, marketplace, reviews
from shared.pagination import Page, PageQuery
from shared.web import RequestContext, Router, create_app

router = Router("marketplace")


@router.get("/api/agents", auth="optional", query=marketplace.AgentQuery,
            response=Page[marketplace.AgentSummary], errors=(400,))
def list_agents(ctx: RequestContext, query: marketplace.AgentQuery) -> Page[marketplace.AgentSummary]:
    """Search and browse published agents (q, category, tags; relevance, popular, rating, new)."""
    return marketplace.list_agents(ctx.signed_in, query)


@router.get("/api/agents/{slug}", auth="optional", response=marketplace.AgentDetail, errors=(404,))
def get_agent(ctx: RequestContext, slug: str) -> marketplace.AgentDetail:
    """One listing (published, or your own draft)."""
    return marketplace.get_agent(ctx.signed_in, slug)


@router.get("/api/agents/{slug}/agent-card.json", auth="optional", response=agent_card.AgentCard, errors=(404,))
def get_agent_card(ctx: RequestContext, slug: str) -> agent_card.AgentCard:
    """The listing as an A2A agent card."""
    return agent_card.agent_card(ctx.signed_in, slug)


@router.get("/api/agents/{slug}/reviews", auth="optional", query=PageQuery, response=Page[reviews.Review],
            errors=(400, 404))
def list_agent_reviews(ctx: RequestContext, slug: str, query: PageQuery) -> Page[reviews.Review]:
    """Public reviews of an agent, newest first."""
    return reviews.list_reviews(ctx.signed_in, slug, query)


@router.post("/api/agents/{slug}/reviews", body=reviews.ReviewInput, response=reviews.Review, status=201,
             errors=(403, 404, 409))
def create_agent_review(ctx: RequestContext, slug: str, body: reviews.ReviewInput) -> reviews.Review:
    """Review an agent you hired (one review per agent)."""
    return reviews.create_review(ctx.user, slug, body)


@router.put("/api/agents/{slug}/reviews/mine", body=reviews.ReviewInput, response=reviews.Review, errors=(404,))
def replace_my_agent_review(ctx: RequestContext, slug: str, body: reviews.ReviewInput) -> reviews.Review:
    """Change your review of an agent."""
    return reviews.replace_my_review(ctx.user, slug, body)


@router.delete("/api/agents/{slug}/reviews/mine", status=204, errors=(404,))
def delete_my_agent_review(ctx: RequestContext, slug: str) -> Response:
    """Withdraw your review of an agent."""
    reviews.delete_my_review(ctx.user, slug)
    return Response(status=204)


@router.get("/api/collections", auth="optional", query=marketplace.CollectionQuery,
            response=Page[marketplace.Collection], errors=(400,))
def list_collections(ctx: RequestContext, query: marketplace.CollectionQuery) -> Page[marketplace.Collection]:
    """Featured and curated lists of agents."""
    return marketplace.list_collections(ctx.signed_in, query)


app = create_app(__name__, [router])

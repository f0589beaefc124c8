"""Agent reviews: one per user per agent, only from users who hired it.

"Hired" means the user has an instance of the agent, in any status (a destroyed one still counts:
they used it). The listing's rating stats (`rating_avg`, `reviews_count`, `rating_counts`) are
maintained by a trigger in SQL (migration 20261201002001) that recounts under the agent row's lock,
so concurrent reviews, edits and deletes never leave them off a recount. Everything here runs as the
signed-in user; RLS enforces the same rules (own rows, published agents, hired) for direct writes.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ConfigDict, Field

from shared.auth import User
from shared.data import Tx, acting_as
from shared.models import Model
from shared.pagination import Page, PageQuery, decode_cursor, page_of
from shared.problems import conflict, forbidden, not_found


class ReviewInput(Model):
    model_config = ConfigDict(extra="forbid")
    rating: int = Field(ge=1, le=5, description="1 to 5 stars.")
    title: str = Field(default="", max_length=120)
    body: str = Field(default="", max_length=4000)


class Review(Model):
    id: UUID
    rating: int
    title: str
    body: str
    author_name: str | None
    created_at: datetime
    updated_at: datetime


def _agent_id(tx: Tx, slug: str) -> Any:
    agent_id = tx.scalar("review_agent", slug=slug)
    if agent_id is None:
        raise not_found("agent")
    return agent_id


def list_reviews(user: User | None, slug: str, query: PageQuery) -> Page[Review]:
    """Public reviews of a published agent, newest first."""
    after = decode_cursor(query.cursor, ("created_at", "id"))
    with acting_as(user) as tx:
        agent_id = _agent_id(tx, slug)
        rows = tx.all("reviews_page", agent_id=agent_id,
                      after_created=after["created_at"] if after else None,
                      after_id=after["id"] if after else None, limit=query.limit + 1)
    return Page[Review](**page_of(rows, query.limit, ("created_at", "id"), Review))


def create_review(user: User, slug: str, body: ReviewInput) -> Review:
    """201 with the review; 403 if the user never hired the agent; 409 if they already reviewed it."""
    with acting_as(user) as tx:
        agent_id = _agent_id(tx, slug)
        if not tx.scalar("review_has_hired", user_id=user.id, agent_id=agent_id):
            raise forbidden("Only people who hired this agent can review it.")
        row = tx.one("review_insert", agent_id=agent_id, user_id=user.id, rating=body.rating, title=body.title,
                     body=body.body)
    if row is None:
        raise conflict("You already reviewed this agent; change it with PUT …/reviews/mine.",
                       code="review-exists")
    return Review.model_validate(row)


def replace_my_review(user: User, slug: str, body: ReviewInput) -> Review:
    with acting_as(user) as tx:
        row = tx.one("review_update_mine", agent_id=_agent_id(tx, slug), user_id=user.id, rating=body.rating,
                     title=body.title, body=body.body)
    if row is None:
        raise not_found("review")
    return Review.model_validate(row)


def delete_my_review(user: User, slug: str) -> None:
    with acting_as(user) as tx:
        gone = tx.scalar("review_delete_mine", agent_id=_agent_id(tx, slug), user_id=user.id)
    if gone is None:
        raise not_found("review")

"""Relay routes: link tokens for an instance, its connections, and unlinking."""

from __future__ import annotations

from flask import Response

from shared.relays import linking
from shared.relays.models import Relay
from shared.web import RequestContext, Router, create_app

router = Router("relays")


@router.post("/api/instances/{instance_id:uuid}/relays/{relay}/link", response=linking.LinkOut, status=201,
             errors=(404,))
def create_link(ctx: RequestContext, instance_id: str, relay: str) -> linking.LinkOut:
    """A single-use, expiring token that links a chat account on `relay` to this instance."""
    return linking.create_link(ctx.user, instance_id, _relay(relay))


@router.get("/api/instances/{instance_id:uuid}/relays", response=linking.ConnectionList, errors=(404,))
def list_connections(ctx: RequestContext, instance_id: str) -> linking.ConnectionList:
    """The chat accounts linked to this instance."""
    return linking.connections(ctx.user, instance_id)


@router.delete("/api/relays/{connection_id:uuid}", status=204, errors=(404,))
def delete_connection(ctx: RequestContext, connection_id: str) -> Response:
    """Unlink a chat account (its messages get the linking prompt again)."""
    linking.disconnect(ctx.user, connection_id)
    return Response(status=204)


def _relay(value: str) -> Relay:
    from shared.problems import not_found
    from shared.relays.models import RELAYS

    if value not in RELAYS:
        raise not_found("relay")
    return value


app = create_app(__name__, [router])

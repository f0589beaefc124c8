"""Ops: health and the OpenAPI document."""

from __future__ import annotations

from flask import Response

from shared import ops
from shared.web import RequestContext, Router, create_app

router = Router("ops")


@router.get("/api/health", auth="none", response=ops.Health, errors=(503,))
def health(ctx: RequestContext) -> ops.Health:
    """Liveness and database reachability."""
    return ops.health()


@router.get("/api/openapi.json", auth="none")
def openapi(ctx: RequestContext) -> Response:
    """This API's OpenAPI 3.1 document."""
    return Response(ops.openapi_json(), mimetype="application/json")


app = create_app(__name__, [router])

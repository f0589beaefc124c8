"""The HTTP layer every serverless function shares: app factory, declared routes, problems, OpenAPI."""

from shared.web.app import create_app
from shared.web.routes import RequestContext, Router

__all__ = ["RequestContext", "Router", "create_app"]

"""The OpenAPI 3.1 document, generated from the declared routes and their pydantic models."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.web.routes import Endpoint, Router

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "request_id": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
REASONS = {400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type",
           422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error",
           503: "Service Unavailable"}


def all_routers() -> list[Router]:
    """Every route group of `api/` and `functions/` (imported only when the document is asked for)."""
    import api
    import functions

    routers: list[Router] = []
    for pkg in (api, functions):
        for mod in pkgutil.iter_modules(pkg.__path__):
            if mod.name.startswith("_"):
                continue
            m = importlib.import_module(f"{pkg.__name__}.{mod.name}")
            routers.extend(r for r in vars(m).values() if isinstance(r, Router))
    return routers


def _models(ep: Endpoint) -> list[type[BaseModel]]:
    out = [m for m in (ep.query, ep.body) if m is not None]
    if isinstance(ep.response, type) and issubclass(ep.response, BaseModel):
        out.append(ep.response)
    return out


def build_document(routers: list[Router] | None = None) -> dict[str, Any]:
    routers = routers if routers is not None else all_routers()
    endpoints = [ep for r in routers for ep in r.endpoints]
    models = {m for ep in endpoints for m in _models(ep)}
    keyed = [(m, mode) for m in sorted(models, key=lambda m: m.__name__)
             for mode in ("validation", "serialization")]
    refs, defs = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
    schemas = dict(defs.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for ep in sorted(endpoints, key=lambda e: (e.openapi_path, e.method)):
        op: dict[str, Any] = {"operationId": ep.handler.__name__, "summary": ep.summary, "tags": ep.tags}
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in _path_params(ep.openapi_path)]
        if ep.query is not None:
            for name, field in ep.query.model_fields.items():
                schema = refs[(ep.query, "validation")]
                prop = schemas.get(ep.query.__name__, {}).get("properties", {}).get(name, {}) if "$ref" in schema \
                    else schema.get("properties", {}).get(name, {})
                params.append({"name": name, "in": "query", "required": field.is_required(), "schema": prop})
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": refs[(ep.body, "validation")]}}}
        ok: dict[str, Any] = {"description": "OK"}
        if ep.stream:
            ok["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
        elif ep.response is not None and (ep.response, "serialization") in refs:
            ok["content"] = {"application/json": {"schema": refs[(ep.response, "serialization")]}}
        responses: dict[str, Any] = {str(ep.status): ok}
        codes = set(ep.errors) | {500}
        if ep.auth == "required":
            codes.add(401)
        if ep.body is not None:
            codes |= {400, 413, 415, 422}
        if ep.query is not None:
            codes |= {400, 422}
        for code in sorted(codes):
            responses[str(code)] = {"description": REASONS.get(code, "Error"),
                                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        op["responses"] = responses
        if ep.auth != "none":
            op["security"] = [{"bearer": []}] if ep.auth == "required" else [{"bearer": []}, {}]
        paths.setdefault(ep.openapi_path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "OpenAgents API", "version": "1.0.0",
                 "description": "Hire OpenClaw agents, chat with them, pay with credits. Errors are "
                                "application/problem+json; lists answer {items, next_cursor}."},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }


def _path_params(path: str) -> list[str]:
    import re

    return re.findall(r"\{(\w+)\}", path)

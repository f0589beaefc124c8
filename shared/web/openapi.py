"""The OpenAPI 3.1 document, generated from the declared routes and their pydantic models."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from shared.web.routes import Endpoint, Router, query_name

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
    out = [m for m in (ep.query, ep.body, ep.upload.json if ep.upload else None) if m is not None]
    if isinstance(ep.response, type) and issubclass(ep.response, BaseModel):
        out.append(ep.response)
    return out


def build_document(routers: list[Router] | None = None, *, production: bool | None = None) -> dict[str, Any]:
    """`production`: leave out dev-only routes (default: as the settings say), since they answer 404 there."""
    if production is None:
        from shared.config import get_settings

        production = get_settings().is_production
    routers = routers if routers is not None else all_routers()
    endpoints = [ep for r in routers for ep in r.endpoints if not (production and ep.dev_only)]
    models = {m for ep in endpoints for m in _models(ep)}
    modes: tuple[JsonSchemaMode, ...] = ("validation", "serialization")
    keyed = [(m, mode) for m in sorted(models, key=lambda m: m.__name__) for mode in modes]
    refs, defs = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
    schemas = dict(defs.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for ep in sorted(endpoints, key=lambda e: (e.openapi_path, e.method)):
        op: dict[str, Any] = {"operationId": ep.handler.__name__, "summary": ep.summary, "tags": ep.tags}
        params = [{"name": n, "in": "path", "required": True, "schema": _PARAM_SCHEMAS[kind]}
                  for n, kind in ep.path_params.items()]
        if ep.query is not None:
            for name, field in ep.query.model_fields.items():
                wire = query_name(name, field)  # the schema's properties are keyed by alias, like the wire
                schema = refs[(ep.query, "validation")]
                prop = schemas.get(ep.query.__name__, {}).get("properties", {}).get(wire, {}) if "$ref" in schema \
                    else schema.get("properties", {}).get(wire, {})
                params.append({"name": wire, "in": "query", "required": field.is_required(), "schema": prop})
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": refs[(ep.body, "validation")]}}}
        elif ep.upload is not None:
            content: dict[str, Any] = {t: {"schema": {"type": "string", "format": "binary"}} for t in ep.upload.media_types}
            if ep.upload.json is not None:
                content = {"application/json": {"schema": refs[(ep.upload.json, "validation")]}, **content}
            op["requestBody"] = {"required": True, "content": content,
                                 "description": f"At most {ep.upload.limit} bytes."}
        ok: dict[str, Any] = {"description": "OK"}
        if ep.stream:
            ok["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
        elif ep.response is not None and (ep.response, "serialization") in refs:
            ok["content"] = {"application/json": {"schema": refs[(ep.response, "serialization")]}}
        for media in ep.also:
            ok.setdefault("content", {})[media] = {"schema": {"type": "string"}}
        responses: dict[str, Any] = {str(ep.status): ok}
        codes = set(ep.errors) | {500}
        if ep.auth == "required":
            codes.add(401)
        if ep.verifier is not None:
            codes |= set(ep.verifier.errors)
        if any(kind == "uuid" for kind in ep.path_params.values()):
            codes.add(404)
        if ep.body is not None or ep.upload is not None:
            codes |= {400, 413, 415, 422}
        if ep.query is not None:
            codes |= {400, 422}
        for code in sorted(codes):
            responses[str(code)] = {"description": REASONS.get(code, "Error"),
                                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        op["responses"] = responses
        if ep.verifier is not None:
            op["security"] = [{ep.verifier.name: []}]
        elif ep.auth != "none":
            op["security"] = [{"bearer": []}] if ep.auth == "required" else [{"bearer": []}, {}]
        paths.setdefault(ep.openapi_path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "OpenAgents API", "version": "1.0.0",
                 "description": "Hire OpenClaw agents, chat with them, pay with credits. Errors are "
                                "application/problem+json; lists answer {items, next_cursor}."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": _security_schemes(endpoints)},
    }


_PARAM_SCHEMAS: dict[str, dict[str, Any]] = {"string": {"type": "string"}, "path": {"type": "string"},
                                             "uuid": {"type": "string", "format": "uuid"}}


def _security_schemes(endpoints: list[Endpoint]) -> dict[str, Any]:
    """The JWT bearer scheme, and one per verifier kind the routes use (named as in `auth=`)."""
    schemes: dict[str, Any] = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                          "description": "A Supabase access token"}}
    for ep in endpoints:
        if ep.verifier is not None:
            schemes[ep.verifier.name] = ep.verifier.scheme
    return schemes

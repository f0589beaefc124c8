"""The document says what the code does at its edges: wire names, production routes, signatures, rules."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from shared.web.openapi import build_document


def _op(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return doc["paths"][path][method]


def _schema(doc: dict[str, Any], ref_or_schema: dict[str, Any]) -> dict[str, Any]:
    ref = ref_or_schema.get("$ref")
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else ref_or_schema


def test_query_parameters_use_their_wire_names(client, user):
    doc = build_document()
    names = [p["name"] for p in _op(doc, "/api/usage", "get")["parameters"] if p["in"] == "query"]
    assert "from" in names and "from_" not in names
    param = next(p for p in _op(doc, "/api/usage", "get")["parameters"] if p["name"] == "from")
    assert param["schema"], "the alias's schema is found, not an empty one"
    assert client.get("/api/usage", token=user.token, query={"from": "2026-01-01"}).status_code == 200
    resp = client.get("/api/usage", token=user.token, query={"from_": "2026-01-01"})
    assert resp.status_code == 422  # the Python name is not a second spelling


def test_the_production_document_has_no_dev_routes():
    prod = build_document(production=True)
    validate(prod)
    assert not [p for p in prod["paths"] if p.startswith("/api/dev/")]
    assert "/api/dev/sign-in" in build_document(production=False)["paths"]


def test_the_stripe_webhook_documents_its_signature_header():
    doc = build_document()
    op = _op(doc, "/api/stripe/webhook", "post")
    schemes = doc["components"]["securitySchemes"]
    declared = [schemes[name] for requirement in op["security"] for name in requirement]
    assert {"type": "apiKey", "in": "header", "name": "Stripe-Signature"}.items() <= declared[0].items()


def test_checkout_documents_plan_or_topup():
    doc = build_document()
    body = _schema(doc, _op(doc, "/api/billing/checkout", "post")["requestBody"]["content"]["application/json"]["schema"])
    assert body["oneOf"] == [{"required": ["plan"]}, {"required": ["topup"]}]


def test_dev_sign_in_is_absent_in_production_before_reading_the_body(client):
    from shared.config import overridden

    with overridden({"OPENAGENTS_ENV": "production", "DATABASE_URL": "postgresql://x/y", "CRON_SECRET": "c" * 32}):
        resp = client.post("/api/dev/sign-in", data=b"[" * 10_000, headers={"Content-Type": "application/json"})
    assert resp.status_code == 404 and resp.headers["Content-Type"].startswith("application/problem+json")

"""Every text field has a length limit (issue 11 item 6): each string in every request body and query
of the served OpenAPI document declares `maxLength` (or is an enum, a constant, or a UUID/date format,
which bound themselves). Arrays and objects in bodies are bounded by the body limit and JSON depth
(shared.web.inputs)."""

from __future__ import annotations

from typing import Any

SELF_BOUNDED_FORMATS = {"uuid", "date-time", "date", "binary"}


def _unbounded(doc: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    schemas = doc["components"]["schemas"]
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        return _unbounded(doc, schemas[name], where, seen | {name})
    out: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            out += _unbounded(doc, sub, where, seen)
    kind = schema.get("type")
    if (kind == "string" or (isinstance(kind, list) and "string" in kind)) and "maxLength" not in schema \
            and "enum" not in schema and "const" not in schema and schema.get("format") not in SELF_BOUNDED_FORMATS:
        out.append(where)
    for name, sub in (schema.get("properties") or {}).items():
        out += _unbounded(doc, sub, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        out += _unbounded(doc, schema["items"], f"{where}[]", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        out += _unbounded(doc, schema["additionalProperties"], f"{where}{{}}", seen)
    return out


def test_every_string_in_a_request_has_a_length_limit(client):
    doc = client.get("/api/openapi.json").get_json()
    missing: list[str] = []
    bodies = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            content = (op.get("requestBody") or {}).get("content", {})
            if "application/json" in content:
                bodies += 1
                missing += _unbounded(doc, content["application/json"]["schema"], f"{where} body", set())
            for param in op.get("parameters", []):
                if param["in"] == "query":
                    missing += _unbounded(doc, param["schema"], f"{where} ?{param['name']}", set())
    assert bodies >= 20
    assert not missing, "strings without maxLength:\n  " + "\n  ".join(missing)

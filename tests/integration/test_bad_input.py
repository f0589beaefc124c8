"""Hostile input on every declared route: always a 4xx problem+json, never a 500.

The routes come from the same declarations the OpenAPI document is built from, so a route added
later is covered without touching this file.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from shared.web.openapi import all_routers
from shared.web.routes import Endpoint
from tests.support.harness import assert_problem

ENDPOINTS: list[Endpoint] = [ep for r in all_routers() for ep in r.endpoints]


def _path(ep: Endpoint) -> str:
    return re.sub(r"\{(\w+)(?::path)?\}", lambda m: str(uuid.uuid4()), ep.path)


def _id(ep: Endpoint) -> str:
    return f"{ep.method} {ep.path}"


def _call(client: Any, ep: Endpoint, user: Any, **kw: Any) -> Any:
    token = user.token if ep.auth != "none" else None
    return client.request(ep.method, _path(ep), token=token, **kw)


def _problem_4xx(resp: Any, *allowed: int) -> dict[str, Any]:
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.get_data(as_text=True)[:300])
    if allowed:
        assert resp.status_code in allowed, (resp.status_code, resp.get_data(as_text=True)[:300])
    return assert_problem(resp, resp.status_code)


BODY_ROUTES = [ep for ep in ENDPOINTS if ep.body is not None]
QUERY_ROUTES = [ep for ep in ENDPOINTS if ep.query is not None]


@pytest.mark.parametrize("ep", BODY_ROUTES, ids=_id)
def test_malformed_json(client, user, ep):
    _problem_4xx(_call(client, ep, user, data=b'{"unterminated": ', headers={"Content-Type": "application/json"}),
                 400, 401, 403, 404)


@pytest.mark.parametrize("ep", BODY_ROUTES, ids=_id)
def test_wrong_content_type(client, user, ep):
    _problem_4xx(_call(client, ep, user, data=b"email=a@b.c", headers={"Content-Type": "application/x-www-form-urlencoded"}),
                 415, 401, 403, 404)


@pytest.mark.parametrize("ep", BODY_ROUTES, ids=_id)
def test_oversize_body(client, user, ep):
    big = b'{"x": "' + b"a" * (2 << 20) + b'"}'
    _problem_4xx(_call(client, ep, user, data=big, headers={"Content-Type": "application/json"}), 413)


@pytest.mark.parametrize("ep", BODY_ROUTES, ids=_id)
@pytest.mark.parametrize("payload", [[], "str", 12, None, {"__unknown_field__": 1}], ids=repr)
def test_wrong_shapes_and_unknown_fields(client, user, ep, payload):
    import json

    resp = _call(client, ep, user, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    _problem_4xx(resp, 422, 401, 403, 404)


@pytest.mark.parametrize("ep", BODY_ROUTES, ids=_id)
def test_wrong_types_per_field(client, user, ep):
    for name in ep.body.model_fields:  # type: ignore[union-attr]
        for bad in ({"nested": True}, [1, 2], 10**30):
            resp = _call(client, ep, user, json_body={name: bad})
            _problem_4xx(resp, 422, 401, 403, 404)


@pytest.mark.parametrize("ep", QUERY_ROUTES, ids=_id)
def test_bad_query(client, user, ep):
    _problem_4xx(_call(client, ep, user, query={"__unknown__": "1"}), 422)
    for name in ep.query.model_fields:  # type: ignore[union-attr]
        resp = _call(client, ep, user, query={name: "x" * 5000})
        _problem_4xx(resp, 422, 400)
    if "limit" in ep.query.model_fields:  # type: ignore[union-attr]
        for bad in ("abc", "-1", "0", "100000", "1.5"):
            _problem_4xx(_call(client, ep, user, query={"limit": bad}), 422)
    if "cursor" in ep.query.model_fields:  # type: ignore[union-attr]
        for bad in ("not-base64!!", "eyJ4IjoxfQ", "W10"):
            _problem_4xx(_call(client, ep, user, query={"cursor": bad}), 400)


def test_unknown_path_and_method(client):
    assert_problem(client.get("/api/does-not-exist"), 404)
    assert_problem(client.get("/nothing-here-at-all"), 404)
    body = assert_problem(client.delete("/api/health"), 405)
    assert "GET" in body["detail"]


def test_unexpected_errors_are_problems_without_internals():
    from shared.web import Router, create_app

    router = Router("boom")

    @router.get("/api/boom", auth="none")
    def boom(ctx):
        raise RuntimeError("internal detail: password=hunter2")

    app = create_app("boom", [router])
    resp = app.test_client().get("/api/boom")
    body = assert_problem(resp, 500)
    assert "hunter2" not in resp.get_data(as_text=True) and body["request_id"]


def test_request_id_is_echoed_or_made(client):
    resp = client.get("/api/health", headers={"X-Request-Id": "req-12345678"})
    assert resp.headers["X-Request-Id"] == "req-12345678"
    resp = client.get("/api/health", headers={"X-Request-Id": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-Id"])

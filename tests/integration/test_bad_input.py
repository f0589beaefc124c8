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
from shared.web.routes import PARAM_PATTERN, Endpoint
from tests.support.harness import assert_problem

ENDPOINTS: list[Endpoint] = [ep for r in all_routers() for ep in r.endpoints]


def _path(ep: Endpoint) -> str:
    return PARAM_PATTERN.sub(lambda m: str(uuid.uuid4()), ep.path)


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


# --- NUL and control characters, deep JSON, forged cursors, chunked bodies (issue 9) ----------------

PATH_ROUTES = [ep for ep in ENDPOINTS if ep.path_params]
RAW_BODY_ROUTES = [ep for ep in ENDPOINTS if ep.body is not None or ep.max_body is not None or ep.verifier is not None]
CURSOR_ROUTES = [ep for ep in QUERY_ROUTES if "cursor" in ep.query.model_fields]  # type: ignore[union-attr]
HOSTILE_TEXT = ["\x00", "a\x00b", "\x1b[31m", "line\nbreak", "\x7f"]
DEEP = 10_000


def _wire_names(ep: Endpoint) -> list[str]:
    from shared.web.routes import query_name

    return [query_name(n, f) for n, f in ep.query.model_fields.items()]  # type: ignore[union-attr]


def _path_with(ep: Endpoint, target: str, value: str) -> str:
    return PARAM_PATTERN.sub(lambda m: value if m.group(1) == target else str(uuid.uuid4()), ep.path)


def _no_5xx(resp: Any, what: Any) -> None:
    assert resp.status_code < 500, (what, resp.status_code, resp.get_data(as_text=True)[:300])
    assert 400 <= resp.status_code < 500 or resp.status_code in (200, 201, 202, 204), (what, resp.status_code)
    if resp.status_code >= 400:
        assert_problem(resp, resp.status_code)


@pytest.mark.parametrize("ep", PATH_ROUTES, ids=_id)
def test_control_characters_in_path_parameters(client, user, ep):
    token = user.token if ep.auth != "none" else None
    for name in ep.path_params:
        for value in ("%00", "a%00b", "%1B", "x%0Ay"):
            resp = client.request(ep.method, _path_with(ep, name, value), token=token)
            _problem_4xx(resp)


@pytest.mark.parametrize("ep", QUERY_ROUTES, ids=_id)
def test_control_characters_in_query_parameters(client, user, ep):
    for name in _wire_names(ep):
        for value in HOSTILE_TEXT:
            resp = _call(client, ep, user, query={name: value})
            body = _problem_4xx(resp)
            if resp.status_code == 422 and ep.auth in ("none", "optional", "required"):
                assert body["errors"][0]["loc"][:2] == ["query", name], body
    _problem_4xx(_call(client, ep, user, query={"\x00": "1"}))


@pytest.mark.parametrize("ep", BODY_ROUTES, ids=_id)
def test_nul_and_control_characters_in_body_strings(client, user, ep):
    for name in ep.body.model_fields:  # type: ignore[union-attr]
        for value in ("a\x00b", "\x1b[2J", "\ud800"):
            resp = _call(client, ep, user, json_body={name: value})
            _problem_4xx(resp, 422, 401, 403, 404)
        resp = _call(client, ep, user, json_body={name: {"nested\x00key": 1}})
        _problem_4xx(resp, 422, 401, 403, 404)


@pytest.mark.parametrize("ep", BODY_ROUTES, ids=_id)
def test_json_nested_ten_thousand_deep(client, user, ep):
    first = next(iter(ep.body.model_fields))  # type: ignore[union-attr]
    for deep in ('{"a":' * DEEP + "1" + "}" * DEEP, "[" * DEEP + "]" * DEEP,
                 f'{{"{first}":' + "[" * DEEP + "]" * DEEP + "}", '{"a":' * 65 + "1" + "}" * 65):
        resp = _call(client, ep, user, data=deep.encode(), headers={"Content-Type": "application/json"})
        body = _problem_4xx(resp, 400, 401, 403, 404)
        if resp.status_code == 400:
            assert body["type"].endswith("/too-deep"), body


def test_a_signed_stripe_event_nested_ten_thousand_deep_is_a_400(client):
    from devstack.emulators.stripe.signing import sign_payload
    from tests.support.billing_stripe import SECRET

    for deep in (b'{"object":"event","id":"evt_1","data":' + b"[" * DEEP + b"]" * DEEP + b"}",
                 b"[" * DEEP + b"]" * DEEP,
                 b'{"object":"event","id":"evt_nul","type":"x","data":{"object":{"name":"a\\u0000b"}}}'):
        resp = client.post("/api/stripe/webhook", data=deep, headers={
            "Content-Type": "application/json", "Stripe-Signature": sign_payload(deep, SECRET, None)})
        assert assert_problem(resp, 400)["type"].endswith("/malformed-event")  # signed, so past the signature check


def _forged(payload: Any) -> str:
    import base64
    import json

    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_UUID = "00000000-0000-4000-8000-000000000001"
# Right key sets with wrong values (every keyset page in the API uses one of these key names), and
# values that would reach a SQL cast: not a date, not a UUID, not a bigint, not a finite number.
FORGED_CURSORS = [_forged(p) for p in (
    {"created_at": "yesterday", "id": _UUID}, {"created_at": "2026-01-01T00:00:00+00:00", "id": "not-a-uuid"},
    {"created_at": 12, "id": _UUID}, {"created_at": None, "id": None}, {"created_at": ["x"], "id": {"a": 1}},
    {"last_message_at": "2026-13-45", "id": _UUID}, {"last_message_at": "2026-01-01", "id": 7},
    {"id": "1"}, {"id": 2**70}, {"id": True}, {"id": [1]}, {"id": "x\u0000"},
    {"sort_key": "abc", "id": _UUID}, {"sort_key": True, "id": _UUID},
    {"hires_count": "many", "id": _UUID}, {"hires_count": 1.5, "id": _UUID}, {"published_at": "soon", "id": _UUID},
    {"rank": "x", "hires_count": 1, "id": _UUID}, {"rating_avg": 5, "reviews_count": 1, "id": _UUID},
    {"sort": 1, "filters": None, "hires_count": 1, "id": _UUID},
    {"featured_rank": "1", "position": 1, "id": _UUID}, {"featured_rank": 1, "position": 2**64, "id": _UUID},
)] + [_forged(b'{"sort_key": 1e999, "id": "' + _UUID.encode() + b'"}'), _forged(b"[" * DEEP + b"]" * DEEP),
      _forged(b"[" * 150 + b"]" * 150), _forged(b'"\\ud800"'), _forged(b"\xff\xfe")]


@pytest.mark.parametrize("ep", CURSOR_ROUTES, ids=_id)
def test_forged_cursors(client, user, ep):
    for cursor in FORGED_CURSORS:
        _problem_4xx(_call(client, ep, user, query={"cursor": cursor}), 400, 401, 403, 404, 422)  # 422: too long


def test_forged_cursors_on_real_sessions_and_messages(client, user, db):
    from tests.support.billing_helpers import new_session, world

    w = world(db, user_id=user.id)
    for _ in range(2):
        new_session(db, w)
    with db.service() as tx:
        for i in range(3):
            tx.sql("insert into messages (session_id, user_id, role, content) values (%(s)s, %(u)s, 'user', %(c)s)",
                   {"s": w.session_id, "u": user.id, "c": f"m{i}"})
    for url in (f"/api/instances/{w.instance_id}/sessions", f"/api/sessions/{w.session_id}/messages"):
        seen: list[str] = []
        cursor = None
        while True:
            page = client.get(url, token=user.token, query={"limit": 1, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.get_data(as_text=True)
            data = page.get_json()
            seen += [i["id"] for i in data["items"]]
            cursor = data["next_cursor"]
            if not cursor:
                break
        assert len(seen) == len(set(seen)) == 3
        for forged in (c for c in FORGED_CURSORS if len(c) <= 500):  # longer ones: 422 from the field's limit
            body = assert_problem(client.get(url, token=user.token, query={"cursor": forged}), 400)
            assert body["type"].endswith("/invalid-cursor")


def _limit_of(ep: Endpoint) -> int:
    from shared.config import get_settings

    if ep.max_body is not None:
        return ep.max_body
    if ep.verifier is not None and ep.verifier.max_body is not None:
        return ep.verifier.max_body
    return get_settings().MAX_BODY_BYTES


@pytest.mark.parametrize("ep", [ep for ep in RAW_BODY_ROUTES if ep.method not in ("GET", "HEAD")], ids=_id)
def test_chunked_body_over_the_limit_is_a_413(client, user, ep):
    limit = _limit_of(ep)
    over = b'{"x":"' + b"a" * (limit - 7) + b'"}'
    assert len(over) == limit + 1
    resp = _call(client, ep, user, data=over, headers={"Content-Type": "application/json"}, chunked=True)
    _problem_4xx(resp, 413)
    at_limit = over[:-2] + b'}'
    resp = _call(client, ep, user, data=at_limit, headers={"Content-Type": "application/json"}, chunked=True)
    assert resp.status_code != 413, (resp.status_code, resp.get_data(as_text=True)[:200])
    _no_5xx(resp, "at the limit")


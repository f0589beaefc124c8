"""What a route declaration guarantees on its own: verification by auth kind, typed path parameters,
and an OpenAPI entry that says both. Exercised on a small app of routes declared here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.problems import forbidden
from shared.web import RequestContext, Router, create_app
from shared.web.openapi import build_document
from shared.web.verifiers import CRON, Inbound, lookup, register
from tests.support.harness import CANARIES, ApiClient, assert_problem


@dataclass(frozen=True, slots=True)
class EchoSignature:
    """A verifier of the shape relay verifiers take: header + raw body + query, 403 when wrong."""

    name: str = "test-echo"
    errors: tuple[int, ...] = (403,)
    max_body: int | None = 64
    scheme: dict[str, Any] = field(default_factory=lambda: {"type": "apiKey", "in": "header", "name": "X-Echo"})
    seen: list[Inbound] = field(default_factory=list)

    def verify(self, inbound: Inbound) -> None:
        self.seen.append(inbound)
        if inbound.headers.get("X-Echo") != inbound.body.decode(errors="replace")[::-1]:
            raise forbidden("X-Echo must be the body reversed.")


ECHO = register(EchoSignature())
router = Router("declared")
handled: list[dict[str, Any]] = []


@router.post("/api/test/echo", auth="test-echo")
def echo(ctx: RequestContext) -> dict[str, Any]:
    handled.append({"body": ctx.verified_body})
    return {"ok": True}


@router.get("/api/test/cron", auth="cron")
def cron(ctx: RequestContext) -> dict[str, Any]:
    handled.append({"cron": True})
    return {"ok": True}


@router.get("/api/test/things/{thing_id:uuid}/parts/{part}")
def thing_part(ctx: RequestContext, thing_id: str, part: str) -> dict[str, Any]:
    handled.append({"thing_id": thing_id, "user": ctx.user.id})
    return {"thing_id": thing_id, "part": part}


@router.get("/api/test/open/{other_thing_id:uuid}", auth="none")
def open_thing(ctx: RequestContext, other_thing_id: str) -> dict[str, Any]:
    return {"id": other_thing_id, "signed_in": ctx.signed_in is not None}


@pytest.fixture(scope="module")
def client() -> ApiClient:
    return ApiClient(create_app(__name__, [router]))


@pytest.fixture(autouse=True)
def _fresh() -> None:
    handled.clear()
    ECHO.seen.clear()


def test_a_verifier_sees_the_raw_body_headers_and_query_before_the_handler(client):
    body = b'{"a": 1,  "b":[2]}'  # odd spacing on purpose: the bytes, not a re-serialisation
    resp = client.post("/api/test/echo", data=body, headers={"X-Echo": body.decode()[::-1]}, query={"q": "1"})
    assert resp.status_code == 200
    assert handled == [{"body": body}]
    (seen,) = ECHO.seen
    assert (seen.method, seen.path, seen.body, seen.args.get("q")) == ("POST", "/api/test/echo", body, "1")


def test_a_failed_verification_never_reaches_the_handler(client):
    assert_problem(client.post("/api/test/echo", data=b"abc", headers={"X-Echo": "abc"}), 403)
    assert_problem(client.post("/api/test/echo", data=b"abc"), 403)
    assert handled == []


def test_the_verifier_body_limit_holds_for_chunked_bodies(client):
    body = b"x" * 65
    for chunked in (False, True):
        resp = client.post("/api/test/echo", data=body, headers={"X-Echo": body.decode()[::-1]}, chunked=chunked)
        assert_problem(resp, 413)
    small = b"y" * 64
    assert client.post("/api/test/echo", data=small, headers={"X-Echo": small.decode()}, chunked=True).status_code == 200
    assert handled == [{"body": small}]


def test_cron_kind_is_the_bearer_secret(client):
    assert_problem(client.get("/api/test/cron"), 401)
    assert_problem(client.get("/api/test/cron", headers={"Authorization": "Bearer wrong"}), 401)
    assert_problem(client.get("/api/test/cron", token=CANARIES["SUPABASE_JWT_SECRET"]), 401)
    assert handled == []
    assert client.get("/api/test/cron", token=CANARIES["CRON_SECRET"]).status_code == 200
    assert lookup("cron") is CRON


def test_uuid_parameters_arrive_canonical_and_malformed_ones_are_404_after_auth(client, make_token):
    thing = uuid.uuid4()
    token = make_token()
    resp = client.get(f"/api/test/things/{str(thing).upper()}/parts/wheel", token=token)
    assert resp.status_code == 200 and resp.get_json() == {"thing_id": str(thing), "part": "wheel"}
    assert_problem(client.get("/api/test/things/not-a-uuid/parts/wheel"), 401)  # who asks comes first
    problem = assert_problem(client.get("/api/test/things/not-a-uuid/parts/wheel", token=token), 404)
    assert problem["detail"] == "No such thing."
    problem = assert_problem(client.get(f"/api/test/open/{thing}x"), 404)
    assert problem["detail"] == "No such other thing."
    assert client.get(f"/api/test/open/{thing}").get_json() == {"id": str(thing), "signed_in": False}


def test_the_document_describes_verifiers_and_uuid_parameters():
    doc = build_document([router])
    schemes = doc["components"]["securitySchemes"]
    assert schemes["test-echo"] == ECHO.scheme and schemes["cron"] == CRON.scheme
    assert schemes["cron"]["type"] == "http" and schemes["cron"]["scheme"] == "bearer"
    echo_op = doc["paths"]["/api/test/echo"]["post"]
    assert echo_op["security"] == [{"test-echo": []}] and "403" in echo_op["responses"]
    assert doc["paths"]["/api/test/cron"]["get"]["security"] == [{"cron": []}]
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/test/things/{thing_id}/parts/{part}"]["get"]["parameters"]}
    assert params == {"thing_id": {"type": "string", "format": "uuid"}, "part": {"type": "string"}}


def test_declarations_refuse_unknown_auth_kinds_and_parameter_types():
    r = Router("broken")
    with pytest.raises(ValueError, match="unknown auth kind 'telegarm'"):
        r.get("/api/x", auth="telegarm")(echo)
    with pytest.raises(ValueError, match="unknown type 'int'"):
        r.get("/api/x/{n:int}")(echo)
    with pytest.raises(ValueError, match="already registered"):
        register(EchoSignature(max_body=1))
    with pytest.raises(ValueError, match="JWT mode"):
        register(EchoSignature(name="optional"))
    assert r.endpoints == []


@pytest.fixture
def make_token():
    from shared.auth import mint_access_token
    from shared.config import get_settings

    return lambda: mint_access_token(str(uuid.uuid4()), "declared@example.test", get_settings())
